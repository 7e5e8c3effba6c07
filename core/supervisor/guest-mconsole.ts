import { openJailSocket, type JailSocket } from "../host/guest-socket.js";
import { MconsoleClient, MconsoleError } from "../uml/mconsole/client.js";

/**
 * The mconsole of the guest's current process: the socket inside its jail,
 * reached component by component without following a symlink (never the path
 * the guest announces), and held open so the client can reconnect through it
 * after a timeout. Each new kernel (a boot, a reboot) is connected again.
 */
export class GuestMconsole {
  private readonly client: MconsoleClient;
  private handle: JailSocket | null = null;

  constructor(
    clientSocket: string,
    /** the guest's uid/gid: UML answers to the client socket, made its own */
    owner: { uid: number; gid: number },
    private readonly pathInJail: string,
  ) {
    this.client = new MconsoleClient(clientSocket, owner);
  }

  get connected(): boolean {
    return this.client.connected;
  }

  connect(pid: number): void {
    const handle = openJailSocket(pid, this.pathInJail);
    try {
      this.client.connect(handle.path);
    } catch (e) {
      handle.close();
      throw e;
    }
    this.handle?.close();
    this.handle = handle;
  }

  request(command: string, timeoutMs = 3000): Promise<string> {
    if (!this.client.connected) return Promise.reject(new MconsoleError("transport", "mconsole not connected yet", command));
    return this.client.request(command, timeoutMs);
  }

  /** The process ended (or the supervisor goes): pending requests fail. */
  close(): void {
    this.client.close();
    this.handle?.close();
    this.handle = null;
  }
}

import { unlinkSync } from "node:fs";
import { chownSocket } from "../../host/guest-socket.js";
import { native, type NativeDgramSocket } from "../../native.js";

/**
 * A bound and connected unix datagram socket to one UML mconsole. Connected,
 * so the kernel queues every packet of a long reply (an unconnected client
 * loses them past net.unix.max_dgram_qlen), and bound, because UML answers
 * with sendto() to the request's source address.
 */
export class MconsoleTransport {
  private sock: NativeDgramSocket | null = null;

  constructor(
    private readonly clientPath: string,
    private readonly onPacket: (buf: Buffer) => void,
    /** an unprivileged UML sends its replies here: the socket is made its own */
    private readonly owner?: { uid: number; gid: number },
  ) {}

  open(serverPath: string): void {
    this.close();
    removeStale(this.clientPath);
    // a reply packet is at most 524 bytes: anything cut at 64 KiB is not one
    const s = new native.Socket((buf, truncated) => {
      if (!truncated) this.onPacket(buf);
    });
    try {
      s.bind(this.clientPath);
      if (this.owner) chownSocket(this.clientPath, this.owner.uid, this.owner.gid);
      s.connect(serverPath);
    } catch (e) {
      s.close();
      removeStale(this.clientPath);
      throw e;
    }
    this.sock = s;
  }

  get isOpen(): boolean {
    return this.sock !== null;
  }

  send(buf: Buffer): void {
    if (!this.sock) throw Object.assign(new Error("mconsole transport is not open"), { code: "ENOTCONN" });
    this.sock.send(buf);
  }

  close(): void {
    if (this.sock) {
      this.sock.close();
      this.sock = null;
      removeStale(this.clientPath);
    }
  }
}

function removeStale(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // not there: fine
  }
}

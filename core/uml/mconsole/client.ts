import { decodeReply, encodeRequest, ReplyAssembler } from "./codec.js";
import { MconsoleTransport } from "./transport.js";

export class MconsoleError extends Error {
  constructor(
    readonly kind: "error" | "timeout" | "transport",
    message: string,
    readonly command: string,
    readonly err?: number,
  ) {
    super(message);
    this.name = "MconsoleError";
  }
}

interface Pending {
  command: string;
  resolve: (text: string) => void;
  reject: (e: MconsoleError) => void;
  timeoutMs: number;
}

/**
 * mconsole client: one request outstanding at a time (UML runs PROC requests
 * that arrive together newest-first), multi-part replies joined, a timeout per
 * request. After a timeout the socket is reopened so a late reply can never be
 * taken for the answer to the next request.
 */
export class MconsoleClient {
  private readonly transport: MconsoleTransport;
  private readonly assembler = new ReplyAssembler();
  private queue: Pending[] = [];
  private current: (Pending & { timer: NodeJS.Timeout }) | null = null;
  private serverPath: string | null = null;

  constructor(clientSocketPath: string, owner?: { uid: number; gid: number }) {
    this.transport = new MconsoleTransport(clientSocketPath, (buf) => this.onPacket(buf), owner);
  }

  /** (Re)connect to a mconsole socket, e.g. after every boot's SOCKET notification. */
  connect(serverPath: string): void {
    this.serverPath = serverPath;
    this.transport.open(serverPath);
  }

  get connected(): boolean {
    return this.transport.isOpen;
  }

  request(command: string, timeoutMs = 5000): Promise<string> {
    return new Promise((resolve, reject) => {
      this.queue.push({ command, resolve, reject, timeoutMs });
      this.pump();
    });
  }

  close(): void {
    this.transport.close();
    const all = this.current ? [this.current, ...this.queue] : this.queue;
    if (this.current) clearTimeout(this.current.timer);
    this.current = null;
    this.queue = [];
    for (const p of all) p.reject(new MconsoleError("transport", "mconsole client closed", p.command));
  }

  private pump(): void {
    if (this.current || this.queue.length === 0) return;
    const next = this.queue.shift()!;
    const timer = setTimeout(() => this.onTimeout(), next.timeoutMs);
    this.current = { ...next, timer };
    try {
      this.transport.send(encodeRequest(next.command));
    } catch (e) {
      this.finish(null, new MconsoleError("transport", `mconsole send failed: ${(e as Error).message}`, next.command));
    }
  }

  private onPacket(buf: Buffer): void {
    if (!this.current) return; // stray packet (e.g. console lines after sysrq b)
    const done = this.assembler.push(decodeReply(buf));
    if (!done) return;
    if (done.err !== 0) {
      this.finish(null, new MconsoleError("error", done.text || `mconsole error ${done.err}`, this.current.command, done.err));
    } else {
      this.finish(done.text, null);
    }
  }

  private onTimeout(): void {
    if (!this.current) return;
    const cmd = this.current.command;
    this.finish(null, new MconsoleError("timeout", `mconsole '${cmd.split(" ")[0]}' timed out`, cmd));
    if (this.serverPath) {
      try {
        this.transport.open(this.serverPath); // drop whatever arrives late
      } catch {
        // the guest may be gone; the next send reports it
      }
    }
  }

  private finish(text: string | null, err: MconsoleError | null): void {
    const cur = this.current!;
    clearTimeout(cur.timer);
    this.current = null;
    if (err) cur.reject(err);
    else cur.resolve(text ?? "");
    this.pump();
  }
}

import { closeSync, constants, fstatSync, openSync, renameSync, writeSync } from "node:fs";
import { Socket } from "node:net";
import { readLogTail } from "../console/console-hub.js";
import { Scrollback } from "../console/scrollback.js";
import { native } from "../native.js";
import { CONSOLE_TAIL_BYTES, EndLineTracker } from "./exit-reason.js";
import { transferable, type ConsoleSnapshot } from "./rpc.js";

/** A full pipe makes UML wait for its next timer tick (10 ms): 1 MiB keeps bulk output flowing, and holds that much while no daemon reads. */
const CONSOLE_PIPE_BYTES = 1024 * 1024;
/** Console input queued for a guest that does not read (paused, hung): past it, input is dropped and the writer told. */
export const MAX_QUEUED_INPUT = 1024 * 1024;

export interface ConsoleFiles {
  consoleIn: string;
  consoleOut: string;
  consoleLog: string;
}

export interface ConsoleSink {
  /** every chunk the guest wrote, at its absolute offset */
  data(chunk: Buffer, offset: number): void;
  warn(msg: string, fields: Record<string, unknown>): void;
}

/**
 * The guest's main console: two FIFOs the UML process holds open read-write
 * (so it never sees EOF or EPIPE and survives the daemon), a console log with
 * one rotation, a scrollback ring, the end of this boot's output (how its
 * kernel ended, see exit-reason.ts), and input bounded for a guest that does
 * not read.
 */
export class ConsolePipes {
  private logFd = -1;
  private logBytes = 0;
  private readonly scrollback: Scrollback;
  private tailBytes: Buffer = Buffer.alloc(0);
  private readonly ends = new EndLineTracker();
  private out: Socket | null = null;
  private in: Socket | null = null;

  constructor(
    private readonly files: ConsoleFiles,
    private readonly scrollbackBytes: number,
    private readonly logMaxBytes: number,
    private readonly sink: ConsoleSink,
  ) {
    this.scrollback = new Scrollback(scrollbackBytes);
  }

  openLog(): void {
    this.logFd = openSync(this.files.consoleLog, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o600);
    this.logBytes = fstatSync(this.logFd).size;
  }

  /** The FIFO ends the UML process gets as fd 0 and 1 (the caller closes them after the spawn). */
  openForChild(): { stdinFd: number; stdoutFd: number } {
    // O_RDWR: opening never blocks, and the holder is both reader and writer of
    // the FIFO, so UML never gets EOF on its input or EPIPE on its output.
    const stdinFd = openSync(this.files.consoleIn, constants.O_RDWR);
    try {
      return { stdinFd, stdoutFd: openSync(this.files.consoleOut, constants.O_RDWR) };
    } catch (e) {
      closeSync(stdinFd);
      throw e;
    }
  }

  /** An adopted guest's viewers get what the log holds (output written while no daemon read waits in the FIFO and follows). */
  seedFromLog(): void {
    this.scrollback.push(readLogTail(this.files.consoleLog, this.scrollbackBytes));
  }

  /** Starts reading the guest's output and makes its input writable. Once per supervisor: the FIFOs outlive each process. */
  attach(): void {
    if (this.out) return;
    // native.openFd, not fs.openSync: Node would close these again when this worker exits. Read-write: between
    // a reboot's old and new process no one else holds the FIFO, and a reader alone would see EOF
    const outFd = native.openFd(this.files.consoleOut, constants.O_RDWR | constants.O_NONBLOCK);
    try {
      native.setPipeSize(outFd, CONSOLE_PIPE_BYTES);
    } catch (e) {
      this.sink.warn("console pipe size unchanged", { error: (e as Error).message });
    }
    this.out = new Socket({ fd: outFd, readable: true, writable: false });
    this.out.on("data", (chunk: Buffer) => this.onData(chunk));
    this.out.on("error", (e) => this.sink.warn("console read error", { error: e.message }));
    const inFd = native.openFd(this.files.consoleIn, constants.O_RDWR | constants.O_NONBLOCK);
    this.in = new Socket({ fd: inFd, readable: false, writable: true });
    this.in.on("error", (e) => this.sink.warn("console write error", { error: e.message }));
  }

  /** False when the input was dropped: more than MAX_QUEUED_INPUT bytes wait for a guest that does not read. */
  input(data: Uint8Array): boolean {
    if (!this.in) return true; // nothing attached: typed into nothing, as on a real serial line
    if (this.in.writableLength + data.byteLength > MAX_QUEUED_INPUT) return false;
    this.in.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    return true;
  }

  snapshot(): ConsoleSnapshot {
    const snap = this.scrollback.snapshot();
    return { data: transferable(snap.data).data, end: snap.end };
  }

  /** How many bytes the console has written (its absolute end offset): a cheap sign of life. */
  get written(): number {
    return this.scrollback.end;
  }

  /** The end of this boot's console output (latin1). */
  tail(): string {
    return this.tailBytes.toString("latin1");
  }

  /** The last halt or restart line this boot's kernel printed (see exit-reason.ts). */
  endLine(): "halt" | "restart" | null {
    return this.ends.last;
  }

  /** A new boot: what the previous kernel printed no longer tells how this one ends. */
  resetTail(): void {
    this.tailBytes = Buffer.alloc(0);
    this.ends.reset();
  }

  close(): void {
    this.out?.destroy();
    this.in?.destroy();
    this.out = this.in = null;
    if (this.logFd >= 0) {
      closeSync(this.logFd);
      this.logFd = -1;
    }
  }

  /** Exposed for the tests and adoption: feeds bytes as if the guest wrote them. */
  onData(chunk: Buffer): void {
    const offset = this.scrollback.end;
    this.scrollback.push(chunk);
    this.appendLog(chunk);
    this.ends.push(chunk.toString("latin1"));
    this.tailBytes = chunk.length >= CONSOLE_TAIL_BYTES ? chunk.subarray(-CONSOLE_TAIL_BYTES) : Buffer.concat([this.tailBytes, chunk]).subarray(-CONSOLE_TAIL_BYTES);
    this.sink.data(chunk, offset);
  }

  private appendLog(chunk: Buffer): void {
    if (this.logFd < 0) return;
    try {
      writeSync(this.logFd, chunk);
      this.logBytes += chunk.length;
      if (this.logBytes > this.logMaxBytes) {
        closeSync(this.logFd);
        this.logFd = -1;
        renameSync(this.files.consoleLog, `${this.files.consoleLog}.1`);
        this.openLog();
      }
    } catch (e) {
      this.sink.warn("console log write failed", { error: (e as Error).message });
    }
  }
}

import { chownSync, closeSync, constants, writeSync } from "node:fs";
import { ReadStream as TtyReadStream } from "node:tty";
import { Scrollback } from "../console/scrollback.js";
import type { JailChange } from "../jail/jail-spec.js";
import { native } from "../native.js";
import { MconsoleError } from "../uml/mconsole/client.js";
import { transferable, type ConsoleSnapshot } from "./rpc.js";

const CHANNEL_SCROLLBACK_BYTES = 64 * 1024;

interface Channel {
  master: number;
  slave: string;
  slaveFd: number;
  reader: TtyReadStream;
  scrollback: Scrollback;
}

/** What the channels need of the guest they belong to. */
export interface ChannelGuest {
  /** the guest's uid/gid: UML opens a channel's pty slave by path, as the guest user */
  owner: { uid: number; gid: number };
  data(channel: string, chunk: Buffer, offset: number): void;
  warn(msg: string, fields: Record<string, unknown>): void;
  mconsole(command: string): Promise<string>;
  mconsoleUp(): boolean;
  /** the guest's process runs in a jail that can take a pty (not a legacy guest's, not an ended one) */
  jailed(): boolean;
  changeJail(c: Omit<JailChange, "pid">): Promise<void>;
}

/**
 * Extra consoles and serial lines (con1..15, ssl0..63): a pty pair per
 * channel. UML gets the slave (`sslN=tty:/dev/pts/M`, mounted into its jail),
 * this worker reads and writes the master, and keeps the slave open too so the
 * master never sees a hang-up when the guest closes the line. The ptys outlive
 * the guest's processes: a reboot configures the same ones again.
 */
export class Channels {
  private readonly channels = new Map<string, Channel>();

  constructor(private readonly g: ChannelGuest) {}

  open(name: string): Channel {
    const existing = this.channels.get(name);
    if (existing) return existing;
    const { master, slave } = native.openpty();
    chownSync(slave, this.g.owner.uid, this.g.owner.gid);
    const slaveFd = native.openFd(slave, constants.O_RDWR | constants.O_NOCTTY);
    const reader = new TtyReadStream(master);
    const ch: Channel = { master, slave, slaveFd, reader, scrollback: new Scrollback(CHANNEL_SCROLLBACK_BYTES) };
    reader.on("data", (chunk: Buffer) => {
      const offset = ch.scrollback.end;
      ch.scrollback.push(chunk);
      this.g.data(name, chunk, offset);
    });
    reader.on("error", (e) => this.g.warn("channel read error", { channel: name, error: e.message }));
    this.channels.set(name, ch);
    return ch;
  }

  /** The channel on its pty, (re)configured in the guest kernel when it runs (checked by querying it back). Returns the pty. */
  async configure(name: string): Promise<string> {
    const ch = this.open(name);
    if (!this.g.mconsoleUp()) return ch.slave; // configured at the next boot
    if (this.g.jailed()) await this.g.changeJail({ readOnly: [], readWrite: [], devices: [ch.slave], remove: [] }); // the jail gets this one pty
    await this.g.mconsole(`remove ${name}`).catch(() => {});
    await this.g.mconsole(`config ${name}=tty:${ch.slave}`);
    const now = (await this.g.mconsole(`config ${name}`)).trim();
    if (!now.includes(ch.slave)) throw new MconsoleError("error", `${name} is '${now}', not the daemon's pty`, `config ${name}`);
    return ch.slave;
  }

  async close(name: string): Promise<void> {
    const ch = this.channels.get(name);
    if (this.g.mconsoleUp()) await this.g.mconsole(`remove ${name}`); // refused while the guest has the line open
    if (!ch) return;
    this.channels.delete(name);
    this.release(ch);
    if (this.g.jailed()) await this.g.changeJail({ readOnly: [], readWrite: [], devices: [], remove: [ch.slave] }).catch(() => {});
  }

  /** False when (part of) the input was dropped: the pty's buffer is full (libuv made the master non-blocking). */
  input(name: string, data: Uint8Array): boolean {
    const ch = this.channels.get(name);
    if (!ch) return true;
    try {
      return writeSync(ch.master, data) === data.byteLength;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") this.g.warn("channel input dropped", { channel: name, error: (e as Error).message });
      return false;
    }
  }

  snapshot(name: string): ConsoleSnapshot {
    const snap = this.channels.get(name)?.scrollback.snapshot() ?? { data: Buffer.alloc(0), end: 0 };
    return { data: transferable(snap.data).data, end: snap.end };
  }

  closeAll(): void {
    for (const ch of this.channels.values()) this.release(ch);
    this.channels.clear();
  }

  private release(ch: Channel): void {
    ch.reader.destroy(); // libuv closes the master
    try {
      closeSync(ch.slaveFd);
    } catch {
      // already closed
    }
  }
}

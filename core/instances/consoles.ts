import type { ChannelView } from "../../protocol/guest.js";
import { ConsoleHub, readLogTail, type ConsoleViewer } from "../console/console-hub.js";
import { instanceFiles, type StatePaths } from "../paths.js";
import type { ConsoleChannels } from "./console-channels.js";
import type { Guests } from "./guests.js";
import type { Registry } from "./registry.js";

/**
 * The viewers of every console: an instance's main console and its extra
 * channels (ssl0, con1…). Viewers belong to the instance, not to one boot:
 * they stay attached across reboots and stop/start.
 */
export class Consoles {
  private readonly hubs = new Map<string, ConsoleHub>();

  constructor(
    private readonly guests: Guests,
    private readonly registry: Registry,
    private readonly channels: ConsoleChannels,
    private readonly paths: StatePaths,
    private readonly scrollbackBytes: number,
  ) {}

  /**
   * Attaches a viewer; returns the function that detaches it and the one that
   * types into it (`input` resolves false when the guest is not reading and
   * the input was dropped: the writer should stop).
   */
  attach(name: string, viewer: ConsoleViewer, replay = true, channel?: string): { detach: () => void; input: (data: Buffer) => Promise<boolean> } {
    const row = this.guests.row(name);
    if (channel !== undefined) this.channels.mustHave(row, channel);
    const rt = this.registry.get(row.id);
    const toBuf = (s: { data: Uint8Array; end: number }) => ({ data: Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength), end: s.end });
    let scrollback: Promise<{ data: Buffer; end: number } | null>;
    if (!replay) scrollback = Promise.resolve(null);
    else if (rt && channel) scrollback = rt.host.channelScrollback(channel).then(toBuf);
    else if (rt) scrollback = rt.host.scrollback().then(toBuf);
    else if (channel) scrollback = Promise.resolve(null);
    else scrollback = Promise.resolve({ data: readLogTail(instanceFiles(this.paths.instanceDir(row.id)).consoleLog, this.scrollbackBytes), end: -1 });
    const detach = this.hub(row.id, channel).attach(viewer, scrollback);
    return {
      detach,
      input: (data: Buffer) => {
        const host = this.registry.get(row.id)?.host;
        if (!host) return Promise.resolve(true); // not running: typed into nothing, as on a real serial line
        return channel ? host.channelInput(channel, data) : host.consoleInput(data);
      },
    };
  }

  listChannels(name: string): ChannelView[] {
    return this.channels.list(this.guests.row(name));
  }

  addChannel(name: string, channel: string): Promise<ChannelView> {
    const row = this.guests.row(name);
    return this.channels.add(row, channel, this.registry.get(row.id)?.host);
  }

  async removeChannel(name: string, channel: string): Promise<{ removed: string }> {
    const row = this.guests.row(name);
    await this.channels.remove(row, channel, this.registry.get(row.id)?.host);
    this.close(`${row.id}:${channel}`, 1000, "channel removed");
    return { removed: channel };
  }

  /** The hub of a console (created on first use). */
  hub(id: string, channel?: string): ConsoleHub {
    const key = channel ? `${id}:${channel}` : id;
    let h = this.hubs.get(key);
    if (!h) {
      h = new ConsoleHub();
      this.hubs.set(key, h);
    }
    return h;
  }

  /** An instance deleted: its viewers are told and let go. */
  forget(id: string): void {
    this.close(id, 1000, "instance deleted");
  }

  closeAll(code: number, reason: string): void {
    for (const h of this.hubs.values()) h.closeAll(code, reason);
  }

  private close(key: string, code: number, reason: string): void {
    this.hubs.get(key)?.closeAll(code, reason);
    this.hubs.delete(key);
  }
}

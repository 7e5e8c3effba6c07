import type { Logger } from "pino";
import type { ChannelView } from "../../protocol/guest.js";
import { UmldError } from "../errors.js";
import { isActive } from "../lifecycle/transitions.js";
import type { ChannelsRepo } from "../store/channels-repo.js";
import type { InstanceRow } from "../store/instances-repo.js";
import { nowIso } from "../util/ids.js";
import type { SupervisorHost } from "../supervisor/host.js";

/** The guest's device for a channel: ssl0 → /dev/ttyS0, con1 → /dev/tty1. */
export function guestDevice(channel: string): string {
  return channel.startsWith("ssl") ? `/dev/ttyS${channel.slice(3)}` : `/dev/tty${channel.slice(3)}`;
}

/**
 * Extra consoles (con1..15) and serial lines (ssl0..63): recorded in SQLite,
 * carried by the supervisor on ptys it owns, configured in the guest kernel
 * live and again after every boot.
 */
export class ConsoleChannels {
  /** "<id>:<channel>" → the host pty a running guest's channel is on */
  private ptys = new Map<string, string>();

  constructor(
    private readonly repo: ChannelsRepo,
    private readonly log: Logger,
  ) {}

  list(row: InstanceRow): ChannelView[] {
    return this.repo.of(row.id).map((c) => ({ channel: c, hostPty: this.ptys.get(`${row.id}:${c}`) ?? null, guestDevice: guestDevice(c) }));
  }

  mustHave(row: InstanceRow, channel: string): void {
    if (!this.repo.of(row.id).includes(channel)) throw new UmldError("channel_not_found", `instance '${row.name}' has no channel ${channel}`, { channel });
  }

  /** Live on a running guest (`host` given), recorded for the next boot otherwise. */
  async add(row: InstanceRow, channel: string, host: SupervisorHost | undefined): Promise<ChannelView> {
    if (this.repo.of(row.id).includes(channel)) throw new UmldError("channel_busy", `${channel} is already configured on '${row.name}'`, { channel });
    if (!host && isActive(row.state)) throw new UmldError("invalid_state", `cannot add a channel to an instance that is ${row.state}`, { state: row.state, action: "add-channel" });
    let pty: string | null = null;
    if (host) {
      pty = await host.openChannel(channel);
      this.ptys.set(`${row.id}:${channel}`, pty);
    }
    this.repo.add(row.id, channel, nowIso());
    this.log.info({ instance: row.name, channel, pty }, "console channel added");
    return { channel, hostPty: pty, guestDevice: guestDevice(channel) };
  }

  async remove(row: InstanceRow, channel: string, host: SupervisorHost | undefined): Promise<void> {
    this.mustHave(row, channel);
    if (host) {
      try {
        await host.closeChannel(channel);
      } catch (e) {
        const text = (e as Error).message;
        if (/already open|busy/i.test(text)) {
          throw new UmldError("channel_busy", `the guest still has ${guestDevice(channel)} open; close it in the guest first`, { channel, guest: text });
        }
        throw e;
      }
    }
    this.ptys.delete(`${row.id}:${channel}`);
    this.repo.remove(row.id, channel);
    this.log.info({ instance: row.name, channel }, "console channel removed");
  }

  /** After every boot (and adoption) the guest kernel gets its channels again. */
  async configureAll(id: string, host: SupervisorHost, log: Logger): Promise<void> {
    for (const c of this.repo.of(id)) {
      try {
        this.ptys.set(`${id}:${c}`, await host.openChannel(c));
      } catch (e) {
        log.error({ channel: c, err: (e as Error).message }, "could not configure a console channel");
      }
    }
  }
}

import type { Logger } from "pino";
import type { z } from "zod";
import type { ChannelView, GuestFacts, MconsoleRequest } from "../../protocol/guest.js";
import type { InstanceUsage, UsageList } from "../../protocol/usage.js";
import type { ConsoleViewer } from "../console/console-hub.js";
import { tailLines } from "../console/log-tail.js";
import type { UsageSampler } from "../metrics/usage-sampler.js";
import { instanceFiles, type StatePaths } from "../paths.js";
import type { InstancesRepo } from "../store/instances-repo.js";
import type { Consoles } from "./consoles.js";
import { guestFacts, passthrough } from "./guest-access.js";
import type { Guests } from "./guests.js";

interface GuestIoDeps {
  guests: Guests;
  consoles: Consoles;
  usage: UsageSampler;
  repo: InstancesRepo;
  paths: StatePaths;
  log: Logger;
}

/** What reads from or talks to a running guest without changing its state: mconsole, facts, usage, console log, consoles, channels. */
export class GuestIo {
  constructor(private readonly d: GuestIoDeps) {}

  /** Admin mconsole passthrough (see guest-access.ts). */
  passthrough(name: string, req: z.output<typeof MconsoleRequest>): Promise<{ command: string; reply: string }> {
    return passthrough((cmd, t) => this.d.guests.mconsole(name, cmd, t), req, this.d.log.child({ instance: name }));
  }

  /** Agentless guest facts (see guest-access.ts). */
  guestFacts(name: string): Promise<GuestFacts> {
    return guestFacts((cmd) => this.d.guests.mconsole(name, cmd));
  }

  mconsole(name: string, command: string, timeoutMs?: number): Promise<string> {
    return this.d.guests.mconsole(name, command, timeoutMs);
  }

  /** Usage, read from the sampler's cache. */
  usageHistory(name: string): InstanceUsage {
    const row = this.d.guests.row(name);
    return { name: row.name, intervalS: this.d.usage.timing.keepEveryMs / 1000, samples: this.d.usage.history(row.id) };
  }

  usageList(): UsageList {
    return { intervalS: this.d.usage.timing.everyMs / 1000, instances: this.d.repo.all().map((r) => ({ name: r.name, state: r.state, sample: this.d.usage.latest(r.id) })) };
  }

  /** The last `lines` lines of the console log (and its rotated predecessor). */
  consoleLog(name: string, lines: number): string {
    const files = instanceFiles(this.d.paths.instanceDir(this.d.guests.row(name).id));
    return tailLines([files.consoleLog, `${files.consoleLog}.1`], lines).toString("utf8");
  }

  attachConsole(name: string, viewer: ConsoleViewer, replay = true, channel?: string) {
    return this.d.consoles.attach(name, viewer, replay, channel);
  }

  listChannels(name: string): ChannelView[] {
    return this.d.consoles.listChannels(name);
  }

  addChannel(name: string, channel: string): Promise<ChannelView> {
    return this.d.consoles.addChannel(name, channel);
  }

  removeChannel(name: string, channel: string): Promise<{ removed: string }> {
    return this.d.consoles.removeChannel(name, channel);
  }
}

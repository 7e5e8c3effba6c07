import { MconsoleCommand, type ChannelView } from "../../protocol/guest.js";
import type { UsageSample } from "../../protocol/usage.js";
import { attachConsole } from "../console.js";
import { bytes, col, printable } from "../output.js";
import type { CommandSpec } from "./command.js";

const pct = (n: number | null) => (n === null ? "-" : `${n.toFixed(1)}%`);
const rate = (n: number | null) => (n === null ? "-" : `${bytes(Math.round(n))}/s`);

export const USAGE_COLUMNS = [
  col<UsageSample>("at", (s) => s.at),
  col<UsageSample>(
    "cpuPercent",
    (s) => s.cpuPercent,
    (s) => pct(s.cpuPercent),
    "cpu",
  ),
  col<UsageSample>(
    "cpuSeconds",
    (s) => s.cpuSeconds,
    (s) => (s.cpuSeconds === null ? "-" : s.cpuSeconds.toFixed(1)),
    "cpu s",
  ),
  col<UsageSample>(
    "memoryTargetBytes",
    (s) => s.memoryTargetBytes,
    (s) => bytes(s.memoryTargetBytes),
    "memory",
  ),
  col<UsageSample>(
    "memoryHostBytes",
    (s) => s.memoryHostBytes,
    (s) => bytes(s.memoryHostBytes),
    "host",
  ),
  col<UsageSample>(
    "memoryGuestAvailableBytes",
    (s) => s.memoryGuestAvailableBytes,
    (s) => bytes(s.memoryGuestAvailableBytes),
    "guest avail",
  ),
  col<UsageSample>(
    "rxBytesPerS",
    (s) => s.rxBytesPerS,
    (s) => rate(s.rxBytesPerS),
    "rx",
  ),
  col<UsageSample>(
    "txBytesPerS",
    (s) => s.txBytesPerS,
    (s) => rate(s.txBytesPerS),
    "tx",
  ),
];

export const guestCommands: CommandSpec[] = [
  {
    name: "console",
    help: ["console NAME [--no-scrollback] [--channel ssl0]   attach the console (or a channel); detach with Ctrl-]"],
    flags: ["no-scrollback", "channel"],
    completes: "instance",
    run: (x) => attachConsole(x.c, x.arg(0, "console needs an instance NAME"), !x.v["no-scrollback"], x.v.channel),
  },
  {
    name: "log",
    help: ["log NAME [--tail N] [--unfiltered]   the last N lines (default 200) of the console log (--unfiltered: with the guest's control characters)"],
    flags: ["tail", "unfiltered"],
    completes: "instance",
    async run(x) {
      const text = await x.c.call("consoleLog", { params: { name: x.arg(0, "log needs an instance NAME") }, query: x.v.tail ? { tail: x.v.tail } : {} });
      // the guest wrote these bytes: on a terminal its escape sequences would drive the admin's terminal
      process.stdout.write(x.v.unfiltered ? text : printable(text));
    },
  },
  {
    name: "channel",
    subs: ["ls", "add", "rm"],
    help: ["channel ls NAME | add NAME CH | rm NAME CH        extra consoles (con1..15) and serial lines (ssl0..63)"],
    completes: "instance",
    lists: true,
    async run(x) {
      const [sub] = x.args;
      const inst = x.arg(1, `channel ${sub ?? "ls"} NAME${sub === "ls" ? "" : " CH"}`);
      if (sub === "ls") {
        const r = await x.c.call("listChannels", { params: { name: inst } });
        return x.list(
          r,
          r.channels,
          [
            col<ChannelView>("channel", (c) => c.channel),
            col<ChannelView>("guestDevice", (c) => c.guestDevice, undefined, "guest device"),
            col<ChannelView>("hostPty", (c) => c.hostPty, undefined, "host pty"),
          ],
          "no channels",
        );
      }
      const ch = x.arg(2, `channel ${sub} NAME CH`);
      if (sub === "add") {
        const r = await x.c.call("addChannel", { params: { name: inst }, body: { channel: ch } });
        return x.out(r, `${inst}: ${r.channel} added (guest ${r.guestDevice}); attach with: umlctl console ${inst} --channel ${r.channel}`);
      }
      if (sub === "rm") {
        const r = await x.c.call("removeChannel", { params: { name: inst, channel: ch } });
        return x.out(r, `${inst}: ${r.removed} removed`);
      }
      x.fail("channel ls | add | rm");
    },
  },
  {
    name: "mconsole",
    help: ["mconsole NAME COMMAND [ARGS...] [--force]   e.g. mconsole web-1 proc meminfo"],
    flags: ["force"],
    completes: "instance",
    async run(x) {
      const name = x.arg(0, "mconsole NAME COMMAND [ARGS]");
      const mc = x.field(MconsoleCommand, x.arg(1, "mconsole NAME COMMAND [ARGS]"), "body.command");
      const r = await x.c.call("mconsole", { params: { name }, body: { command: mc, args: x.args.slice(2).join(" "), force: Boolean(x.v.force) } });
      x.out(r, r.reply.replace(/^\n/, ""));
    },
  },
  {
    name: "guest",
    help: ["guest NAME                           uptime, load, memory from the guest's /proc"],
    completes: "instance",
    async run(x) {
      const g = await x.c.call("guestFacts", { params: { name: x.arg(0, "guest needs an instance NAME") } });
      x.out(g, `${g.hostname}: up ${Math.round(g.uptimeS)} s, load ${g.load.join(" ")}, memory ${Math.round(g.memFreeKiB / 1024)} of ${Math.round(g.memTotalKiB / 1024)} MiB free\n${g.kernelVersion}`);
    },
  },
  {
    name: "usage",
    help: ["usage NAME                           CPU, memory and traffic readings of the last hour"],
    completes: "instance",
    lists: true,
    async run(x) {
      const r = await x.c.call("instanceUsage", { params: { name: x.arg(0, "usage needs an instance NAME") } });
      x.list(r, r.samples, USAGE_COLUMNS, "no readings in the last hour (not running)");
    },
  },
];

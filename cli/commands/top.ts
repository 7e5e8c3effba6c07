import type { ResponseOf } from "../../protocol/contract.js";
import type { Ctx } from "../context.js";
import { bytes, col, pickColumns, renderList } from "../output.js";
import type { CommandSpec } from "./command.js";

type Entry = ResponseOf<"listUsage">["instances"][number];

const rate = (n: number | null | undefined) => (n === null || n === undefined ? "-" : `${bytes(Math.round(n))}/s`);
export const TOP_COLUMNS = [
  col<Entry>("name", (e) => e.name),
  col<Entry>("state", (e) => e.state),
  col<Entry>(
    "cpuPercent",
    (e) => e.sample?.cpuPercent ?? null,
    (e) => (e.sample?.cpuPercent == null ? "-" : `${e.sample.cpuPercent.toFixed(1)}%`),
    "cpu",
  ),
  col<Entry>(
    "memoryTargetBytes",
    (e) => e.sample?.memoryTargetBytes ?? null,
    (e) => bytes(e.sample?.memoryTargetBytes),
    "memory",
  ),
  col<Entry>(
    "memoryHostBytes",
    (e) => e.sample?.memoryHostBytes ?? null,
    (e) => bytes(e.sample?.memoryHostBytes),
    "host",
  ),
  col<Entry>(
    "memoryGuestAvailableBytes",
    (e) => e.sample?.memoryGuestAvailableBytes ?? null,
    (e) => bytes(e.sample?.memoryGuestAvailableBytes),
    "guest avail",
  ),
  col<Entry>(
    "rxBytesPerS",
    (e) => e.sample?.rxBytesPerS ?? null,
    (e) => rate(e.sample?.rxBytesPerS),
    "rx",
  ),
  col<Entry>(
    "txBytesPerS",
    (e) => e.sample?.txBytesPerS ?? null,
    (e) => rate(e.sample?.txBytesPerS),
    "tx",
  ),
];

/** Running guests first, the busiest on top. */
function sorted(list: Entry[]): Entry[] {
  return [...list].sort((a, b) => Number(b.sample !== null) - Number(a.sample !== null) || (b.sample?.cpuPercent ?? 0) - (a.sample?.cpuPercent ?? 0) || a.name.localeCompare(b.name));
}

async function frame(x: Ctx): Promise<string> {
  const r = await x.c.call("listUsage");
  const rows = sorted(r.instances);
  const cols = pickColumns(TOP_COLUMNS, x.v.columns);
  const running = rows.filter((e) => e.sample).length;
  const table = renderList(x.format, rows, cols, { raw: r, picked: x.v.columns !== undefined, headers: !x.v["no-headers"], empty: "no instances" });
  return x.format === "table" ? `umld: ${rows.length} instances, ${running} running; readings every ${r.intervalS} s   (q to quit)\n\n${table}` : table;
}

export const topCommand: CommandSpec = {
  name: "top",
  help: ["top [--once] [--interval S]          live CPU, memory and traffic of every guest; q or Ctrl-C quits; --once prints one frame"],
  flags: ["once", "interval"],
  lists: true,
  async run(x) {
    if (x.v.once || !process.stdout.isTTY) {
      process.stdout.write(`${(await frame(x)).replace(/\s+\(q to quit\)/, "")}\n`);
      return;
    }
    const everyMs = Math.max(500, Number(x.v.interval ?? 2) * 1000);
    const stdin = process.stdin;
    let done = false;
    let wake = () => {};
    const quit = () => {
      done = true;
      wake(); // no wait for the next frame
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      process.stdout.write("\x1b[?25h\n"); // cursor back
    };
    if (stdin.isTTY) stdin.setRawMode(true);
    stdin.resume();
    stdin.on("data", (d: Buffer) => {
      if (d.includes(0x71) || d.includes(0x51) || d.includes(0x03)) quit(); // q, Q, Ctrl-C (raw mode: no SIGINT)
    });
    process.on("SIGINT", quit);
    process.stdout.write("\x1b[?25l"); // no cursor while redrawing
    while (!done) {
      const text = await frame(x).catch((e: Error) => `umlctl top: ${e.message}`);
      if (done) break;
      process.stdout.write(`\x1b[H\x1b[2J${text}\n`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, everyMs);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  },
};

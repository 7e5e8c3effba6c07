import { Event } from "../protocol/events.js";
import type { CliClient } from "./client.js";

const FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";

function bar(done: number, total: number | null, unit: string, step: string | null): string {
  const width = 30;
  const frac = total ? Math.min(1, done / total) : 0;
  const filled = Math.round(frac * width);
  const amount = unit === "bytes" ? `${(done / 1048576).toFixed(1)}${total ? `/${(total / 1048576).toFixed(1)}` : ""} MiB` : `${done}${total ? `/${total}` : ""} steps`;
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${Math.round(frac * 100)}% ${amount}${step ? ` ${step}` : ""}`;
}

/** On a terminal, a spinner with the elapsed time while `work` runs (a state change waits for the guest); elsewhere nothing. */
export async function withSpinner<T>(label: string, work: Promise<T>): Promise<T> {
  if (!process.stderr.isTTY) return work;
  const t0 = Date.now();
  let i = 0;
  const draw = () => process.stderr.write(`\r${FRAMES[i++ % FRAMES.length]} ${label} (${((Date.now() - t0) / 1000).toFixed(1)} s)\x1b[K`);
  const timer = setInterval(draw, 100);
  try {
    return await work;
  } finally {
    clearInterval(timer);
    process.stderr.write("\r\x1b[K");
  }
}

/**
 * Starts an operation with wait=false, draws its progress from the events
 * stream (on a terminal, a bar redrawn in place, or a spinner while the
 * operation reports none), and resolves when it ends.
 */
export async function withProgress<T extends { operation: { id: string } }>(
  c: CliClient,
  start: () => Promise<T>,
  label = "working",
): Promise<{ status: string; error: { code: string; message: string } | null; result: unknown }> {
  const ws = c.websocket("/events");
  const early: Event[] = [];
  let onEvent: ((e: Event) => void) | null = null;
  ws.on("message", (d) => {
    const parsed = Event.safeParse(JSON.parse(String(d)));
    if (!parsed.success) return; // an event type this umlctl does not know yet
    if (onEvent) onEvent(parsed.data);
    else early.push(parsed.data);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const started = await start();
  const id = started.operation.id;
  const tty = process.stderr.isTTY;
  const t0 = Date.now();
  let frame = 0;
  let drewBar = false;
  const spinner = tty ? setInterval(() => !drewBar && process.stderr.write(`\r${FRAMES[frame++ % FRAMES.length]} ${label} (${((Date.now() - t0) / 1000).toFixed(1)} s)\x1b[K`), 100) : null;
  return new Promise((resolve) => {
    onEvent = (e) => {
      if (e.type !== "operation" || e.operation.id !== id) return;
      const op = e.operation;
      if (op.progress) {
        drewBar = true;
        const line = bar(op.progress.done, op.progress.total, op.progress.unit, op.progress.step);
        process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
      }
      if (op.status !== "running") {
        if (spinner) clearInterval(spinner);
        if (tty) process.stderr.write(drewBar ? "\n" : "\r\x1b[K");
        ws.close();
        resolve({ status: op.status, error: op.error, result: op.result });
      }
    };
    for (const e of early) onEvent(e);
  });
}

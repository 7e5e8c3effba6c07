import { Event } from "../protocol/events.js";
import type { CliClient } from "./client.js";

function bar(done: number, total: number | null, unit: string, step: string | null): string {
  const width = 30;
  const frac = total ? Math.min(1, done / total) : 0;
  const filled = Math.round(frac * width);
  const amount = unit === "bytes" ? `${(done / 1048576).toFixed(1)}${total ? `/${(total / 1048576).toFixed(1)}` : ""} MiB` : `${done}${total ? `/${total}` : ""} steps`;
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${Math.round(frac * 100)}% ${amount}${step ? ` ${step}` : ""}`;
}

/**
 * Starts an operation with wait=false, draws its progress from the events
 * stream (on a terminal, a bar redrawn in place), and resolves when it ends.
 */
export async function withProgress<T extends { operation: { id: string } }>(c: CliClient, start: () => Promise<T>): Promise<{ status: string; error: { code: string; message: string } | null }> {
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
  return new Promise((resolve) => {
    onEvent = (e) => {
      if (e.type !== "operation" || e.operation.id !== id) return;
      const op = e.operation;
      if (op.progress) {
        const line = bar(op.progress.done, op.progress.total, op.progress.unit, op.progress.step);
        process.stderr.write(tty ? `\r${line}` : `${line}\n`);
      }
      if (op.status !== "running") {
        if (tty) process.stderr.write("\n");
        ws.close();
        resolve({ status: op.status, error: op.error });
      }
    };
    for (const e of early) onEvent(e);
  });
}

/** Parsers for /proc files read from a guest through mconsole `proc` (the reply starts with a newline). */

export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^(\w+(?:\(\w+\))?):\s+(\d+)(?:\s+kB)?\s*$/.exec(line.trim());
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

export function parseUptime(text: string): { uptimeS: number; idleS: number } {
  const [up, idle] = text.trim().split(/\s+/).map(Number);
  if (!Number.isFinite(up) || !Number.isFinite(idle)) throw new Error(`unexpected /proc/uptime: ${JSON.stringify(text.slice(0, 80))}`);
  return { uptimeS: up!, idleS: idle! };
}

export function parseLoadavg(text: string): [number, number, number] {
  const [a, b, c] = text.trim().split(/\s+/).map(Number);
  if (![a, b, c].every((x) => Number.isFinite(x))) throw new Error(`unexpected /proc/loadavg: ${JSON.stringify(text.slice(0, 80))}`);
  return [a!, b!, c!];
}

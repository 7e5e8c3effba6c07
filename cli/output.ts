import { stringify } from "yaml";

export const FORMATS = ["table", "json", "yaml", "csv"] as const;
export type Format = (typeof FORMATS)[number];

type Cell = string | number | boolean | null | undefined;

/** One column of a list: its key (for -c, json and csv), its header, and how a row shows in it. */
export interface Column<T> {
  key: string;
  header?: string;
  get(row: T): Cell;
  /** the table's text, when it differs from the raw value (e.g. "96M" for 100663296) */
  show?(row: T): string;
}

export const col = <T>(key: string, get: (row: T) => Cell, show?: (row: T) => string, header?: string): Column<T> => ({
  key,
  get,
  ...(show ? { show } : {}),
  ...(header ? { header } : {}),
});

/** The columns -c asks for, by key or header, in its order; unknown ones are an error naming the known ones. */
export function pickColumns<T>(all: Column<T>[], spec: string | undefined): Column<T>[] {
  if (!spec) return all;
  return spec.split(",").map((want) => {
    const w = want.trim().toLowerCase();
    const c = all.find((x) => x.key.toLowerCase() === w || (x.header ?? x.key).toLowerCase() === w);
    if (!c) throw new Error(`no column '${want}': choose from ${all.map((x) => x.key).join(", ")}`);
    return c;
  });
}

const text = (v: Cell): string => (v === null || v === undefined ? "-" : typeof v === "boolean" ? (v ? "yes" : "no") : String(v));

function csvCell(v: Cell): string {
  const s = v === null || v === undefined ? "" : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A list in the chosen format: the raw answer for json/yaml without -c, else the columns. */
export function renderList<T>(format: Format, rows: T[], columns: Column<T>[], opts: { raw: unknown; picked: boolean; headers: boolean; empty: string }): string {
  const objects = () => rows.map((r) => Object.fromEntries(columns.map((c) => [c.key, c.get(r) ?? null])));
  switch (format) {
    case "json":
      return JSON.stringify(opts.picked ? objects() : opts.raw, null, 2);
    case "yaml":
      return stringify(opts.picked ? objects() : opts.raw).trimEnd();
    case "csv": {
      const lines = rows.map((r) => columns.map((c) => csvCell(c.get(r))).join(","));
      return (opts.headers ? [columns.map((c) => c.key).join(","), ...lines] : lines).join("\n");
    }
    case "table": {
      if (rows.length === 0) return opts.headers ? opts.empty : "";
      const cells = rows.map((r) => columns.map((c) => (c.show ? c.show(r) : text(c.get(r)))));
      const table = opts.headers ? [columns.map((c) => (c.header ?? c.key).toUpperCase()), ...cells] : cells;
      const width = columns.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
      return table
        .map((row) =>
          row
            .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(width[i]!)))
            .join("  ")
            .trimEnd(),
        )
        .join("\n");
    }
  }
}

/** One object: json, yaml, or the human line for table; csv is for lists. */
export function renderOne(format: Format, value: unknown, human: string | undefined): string {
  if (format === "yaml") return stringify(value).trimEnd();
  if (format === "json" || human === undefined) return JSON.stringify(value, null, 2);
  if (format === "csv") throw new Error("--format csv is for lists (ls and the other list commands)");
  return human;
}

/** Bytes as the tables show them: 96M, 1.5G, 512K. */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "-";
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)}G`;
  if (n >= 1024 ** 2) return `${Math.round(n / 1024 ** 2)}M`;
  if (n >= 1024) return `${Math.round(n / 1024)}K`;
  return `${n}B`;
}

/** Text a guest wrote, safe for a terminal: control characters but newline and tab shown as ^X (as cat -v), C1 as \xNN. */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return text.replace(/\r\n/g, "\n").replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => {
    const n = c.charCodeAt(0);
    if (n < 0x20) return `^${String.fromCharCode(n + 64)}`;
    return n === 0x7f ? "^?" : `\\x${n.toString(16)}`;
  });
}

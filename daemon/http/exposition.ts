/**
 * The Prometheus text format for series built per scrape. prom-client's
 * Registry keeps a labelled map per metric and hashes every label set: at
 * 1000 instances (~25,000 series) one scrape held the event loop for
 * 350-570 ms here. The daemon's own long-lived metrics stay in prom-client;
 * these are written straight to text, one metric family after another.
 */
export type MetricType = "gauge" | "counter";

interface Family {
  name: string;
  help: string;
  type: MetricType;
  lines: string[];
}

/** A label value as the format wants it: backslash, double quote and newline escaped. */
export function escapeLabel(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") : v;
}

/** Labels written once (`a="x",b="y"`) and reused for every sample that has them. */
export function labelText(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .map((k) => `${k}="${escapeLabel(labels[k]!)}"`)
    .join(",");
}

/** Adds one sample: `labels` as labelText wrote them ("" for none); null and undefined values are left out. */
export type Sample = (labels: string, value: number | null | undefined) => void;

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

export class Exposition {
  private readonly families: Family[] = [];

  /** Declares a family; its samples are added through the returned function. */
  family(name: string, help: string, type: MetricType): Sample {
    const f: Family = { name, help, type, lines: [] };
    this.families.push(f);
    return (labels, value) => {
      if (value === null || value === undefined) return;
      f.lines.push(labels === "" ? `${name} ${formatValue(value)}` : `${name}{${labels}} ${formatValue(value)}`);
    };
  }

  /** The text, help and type lines first in each family (as prom-client writes them). */
  text(): string {
    const out: string[] = [];
    for (const f of this.families) {
      out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}\n# TYPE ${f.name} ${f.type}\n${f.lines.map((l) => `${l}\n`).join("")}`);
    }
    return out.join("\n"); // a blank line between families, as prom-client writes them
  }
}

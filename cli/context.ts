import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { z } from "zod";
import { CliClient, type Target } from "./client.js";
import { FORMATS, pickColumns, renderList, renderOne, type Column, type Format } from "./output.js";

/** Every flag umlctl knows (parseArgs is strict); commands name the ones they take for help and completion. */
export const OPTIONS = {
  "state-dir": { type: "string" },
  url: { type: "string" },
  token: { type: "string" },
  tenant: { type: "string" },
  json: { type: "boolean" },
  format: { type: "string" },
  columns: { type: "string", short: "c" },
  "no-headers": { type: "boolean" },
  help: { type: "boolean", short: "h" },
  memory: { type: "string" },
  image: { type: "string" },
  kernel: { type: "string" },
  timeout: { type: "string" },
  "no-wait": { type: "boolean" },
  force: { type: "boolean" },
  "no-scrollback": { type: "boolean" },
  size: { type: "string" },
  ro: { type: "boolean" },
  default: { type: "boolean" },
  deadline: { type: "string" },
  instances: { type: "string" },
  channel: { type: "string" },
  tar: { type: "string" },
  recipe: { type: "string" },
  dir: { type: "string" },
  raw: { type: "string" },
  notify: { type: "boolean" },
  unfiltered: { type: "boolean" },
  snapshot: { type: "string" },
  "no-switch": { type: "boolean" },
  restart: { type: "string" },
  autostart: { type: "boolean" },
  "no-autostart": { type: "boolean" },
  order: { type: "string" },
  delay: { type: "string" },
  "hang-timeout": { type: "string" },
  "on-hang": { type: "string" },
  "net-mbit": { type: "string" },
  "from-kernel": { type: "string" },
  batch: { type: "string" },
  kind: { type: "string" },
  nat: { type: "boolean" },
  "host-access": { type: "boolean" },
  udp: { type: "boolean" },
  routed: { type: "boolean" },
  bridge: { type: "string" },
  ip: { type: "string" },
  dns: { type: "boolean" },
  ipv6: { type: "string" },
  address: { type: "string" },
  "forward-ports": { type: "string" },
  "max-instances": { type: "string" },
  "max-memory": { type: "string" },
  "max-disk": { type: "string" },
  "max-snapshots": { type: "string" },
  "max-cpus": { type: "string" },
  reclaim: { type: "string" },
  cpus: { type: "string" },
  "cpu-weight": { type: "string" },
  "io-weight": { type: "string" },
  pids: { type: "string" },
  actions: { type: "string" },
  expires: { type: "string" },
  limit: { type: "string" },
  since: { type: "string" },
  type: { type: "string" },
  tail: { type: "string" },
  once: { type: "boolean" },
  interval: { type: "string" },
  all: { type: "boolean" },
  state: { type: "string" },
  prefix: { type: "string" },
} as const;

/** Flags every command takes. */
export const GLOBAL_FLAGS = ["state-dir", "url", "token", "tenant", "format", "json", "help"] as const;
/** Flags of the list commands (CommandSpec.lists). */
export const LIST_FLAGS = ["columns", "no-headers"] as const;
/** Flags that say where the daemon is: a completion passes them on to the umlctl it runs for names. */
export const CONNECTION_FLAGS = ["state-dir", "url", "token", "tenant"] as const;

export type Values = ReturnType<typeof parse>["values"];

export function parse(argv: string[]) {
  return parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
}

/** What a command runs with: the client, its flags and arguments, and the one way to print. */
export interface Ctx {
  c: CliClient;
  v: Values;
  /** positionals after the command's name */
  args: string[];
  format: Format;
  fail(msg: string, code?: number): never;
  /** the nth positional, or a usage error */
  arg(n: number, usage: string): string;
  /** one answer: `human` as the table format's text */
  out(value: unknown, human?: string): void;
  /** a list answer: `raw` as json/yaml print it, `rows` in `columns` for the table and csv (and json/yaml with -c) */
  list<T>(raw: unknown, rows: T[], columns: Column<T>[], empty: string): void;
  /** a request field from a flag, checked by the protocol's own schema (refused here as the daemon would) */
  field<S extends z.ZodType>(schema: S, value: string, path: string): z.output<S>;
}

export function fail(msg: string, code = 2): never {
  process.stderr.write(`umlctl: ${msg}\n`);
  process.exit(code);
}

/** The issues of an invalid request, as umlctl prints them (the daemon's own format, from the same schemas). */
export function failInvalid(issues: Array<{ path: string; message: string }>): never {
  const first = issues[0];
  return fail(`invalid_request: ${first ? `invalid ${first.path}: ${first.message}` : "invalid request"}\n${issues.map((i) => `  ${i.path}: ${i.message}`).join("\n")}`, 1);
}

function target(v: Values): Target {
  const stateDir = v["state-dir"] ?? process.env.UMLD_STATE_DIR ?? "/var/lib/umld";
  const url = v.url ?? process.env.UMLD_URL;
  const tenant = v.tenant ?? process.env.UMLD_TENANT;
  const acting = tenant ? { tenant } : {};
  if (url) {
    let token = v.token ?? process.env.UMLD_TOKEN ?? null;
    if (!token && existsSync(`${stateDir}/admin.token`)) token = readFileSync(`${stateDir}/admin.token`, "utf8").trim();
    return { url, token, ...acting };
  }
  return { socketPath: `${stateDir}/umld.sock`, ...acting };
}

export function context(v: Values, args: string[]): Ctx {
  const format = (v.json ? "json" : (v.format ?? "table")) as Format;
  if (!FORMATS.includes(format)) fail(`--format must be one of ${FORMATS.join(", ")}, got '${v.format}'`);
  const write = (s: string) => void (s && process.stdout.write(`${s}\n`));
  const guard = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      return fail((e as Error).message);
    }
  };
  return {
    c: new CliClient(target(v)),
    v,
    args,
    format,
    fail,
    arg: (n, usage) => args[n] ?? fail(usage),
    out: (value, human) => write(guard(() => renderOne(format, value, human))),
    list: (raw, rows, columns, empty) => {
      const picked = guard(() => pickColumns(columns, v.columns));
      write(renderList(format, rows, picked, { raw, picked: v.columns !== undefined, headers: !v["no-headers"], empty }));
    },
    field: (schema, value, path) => {
      const r = schema.safeParse(value);
      if (!r.success) return failInvalid(r.error.issues.map((i) => ({ path: [path, ...i.path.map(String)].join("."), message: i.message })));
      return r.data;
    },
  };
}

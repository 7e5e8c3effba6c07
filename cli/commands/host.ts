import type { ResponseOf } from "../../protocol/contract.js";
import { col } from "../output.js";
import { withSpinner } from "../progress.js";
import type { CommandSpec } from "./command.js";

type HostRow = ResponseOf<"listHosts">["hosts"][number];
const HOST_COLUMNS = [
  col<HostRow>("name", (h) => (h.self ? `${h.name}*` : h.name)),
  col<HostRow>("state", (h) => h.state),
  col<HostRow>("url", (h) => h.url),
  col<HostRow>(
    "free",
    (h) => h.memory?.freeMiB ?? null,
    (h) => (h.memory ? `${h.memory.freeMiB}M` : "-"),
    "free memory",
  ),
  col<HostRow>(
    "committed",
    (h) => h.memory?.committedMiB ?? null,
    (h) => (h.memory ? `${h.memory.committedMiB}M/${h.memory.limitMiB}M` : "-"),
  ),
  col<HostRow>(
    "guests",
    (h) => h.guests?.running ?? null,
    (h) => (h.guests ? `${h.guests.running}/${h.guests.total}` : "-"),
    "running/total",
  ),
  col<HostRow>("version", (h) => h.version),
  col<HostRow>("lastSeen", (h) => h.lastSeen, undefined, "last seen"),
];

export const hostCommands: CommandSpec[] = [
  {
    name: "migrate",
    help: ["migrate NAME HOST [--timeout S] [--no-wait]   cold-migrate an instance to another host of the fleet (shut down, copy, start there)"],
    flags: ["timeout", "no-wait"],
    completes: "instance",
    async run(x) {
      const name = x.arg(0, "migrate NAME HOST");
      const host = x.arg(1, "migrate NAME HOST");
      const body: { host: string; wait: boolean; timeoutS?: number } = { host, wait: !x.v["no-wait"] };
      if (x.v.timeout) body.timeoutS = Number(x.v.timeout);
      const r = await withSpinner(`migrating ${name} to ${host}`, x.c.call("migrateInstance", { params: { name }, body }));
      const op = r.operation;
      if (x.v["no-wait"]) return x.out(r, `migrate: operation ${op.id} started`);
      if (op.status !== "succeeded") x.fail(`migrate ${name}: ${op.error?.code}: ${op.error?.message}`, 1);
      const res = op.result as { bytes?: number; imageCopied?: boolean; started?: boolean } | null;
      x.out(r, `${name}: on ${host} (${res?.bytes ?? 0} bytes sent${res?.imageCopied ? ", image copied" : ""}${res?.started ? ", started" : ""})`);
    },
  },
  {
    name: "host",
    subs: ["ls", "drain"],
    help: [
      "host ls                              the fleet's hosts: up or lost, free memory, guests (* = the host answering)",
      "host drain NAME [--no-wait]          migrate every instance off host NAME (each to the host with the most free memory)",
    ],
    flags: ["no-wait"],
    lists: true,
    async run(x) {
      const sub = x.arg(0, "host ls | drain NAME");
      if (sub === "drain") {
        const name = x.arg(1, "host drain NAME");
        const r = await withSpinner(`draining ${name}`, x.c.call("drainHost", { params: { name }, body: { wait: !x.v["no-wait"] } }));
        const res = r.operation.result as { moved?: Array<{ instance: string; to: string }>; failed?: Array<{ instance: string; error: string }> } | null;
        return x.out(
          r,
          x.v["no-wait"]
            ? `drain: operation ${r.operation.id} started`
            : `${name}: ${res?.moved?.length ?? 0} moved${res?.failed?.length ? `, ${res.failed.length} not moved (${res.failed.map((f) => `${f.instance}: ${f.error}`).join("; ")})` : ""}`,
        );
      }
      if (sub !== "ls") x.fail("host ls | drain NAME");
      const r = await x.c.call("listHosts");
      if (!r.fleet) return x.out(r, "this umld is not in a fleet (started without --cluster-etcd)");
      x.list(r, r.hosts, HOST_COLUMNS, "no hosts");
    },
  },
  {
    name: "events",
    help: [
      "events [--since SEQ] [--type a,b]    every event as one JSON line; --since replays what came after SEQ first",
      "                                     (each event has its seq: reconnect with the last one seen)",
    ],
    flags: ["since", "type"],
    async run(x) {
      const q = new URLSearchParams();
      if (x.v.since !== undefined) q.set("since", x.v.since);
      if (x.v.type !== undefined) q.set("type", x.v.type);
      const ws = x.c.websocket(`/events${q.size ? `?${q}` : ""}`);
      ws.on("message", (d) => process.stdout.write(`${String(d)}\n`));
      ws.on("unexpected-response", (_q, res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c));
        res.on("end", () => {
          const e = (() => {
            try {
              return (JSON.parse(body) as { error: { code: string; message: string } }).error;
            } catch {
              return { code: String(res.statusCode), message: body };
            }
          })();
          x.fail(`${e.code}: ${e.message}`, 1);
        });
      });
      ws.on("error", (e) => x.fail(`events: ${e.message}`, 1));
      ws.on("close", (code, reason) => x.fail(`events: the daemon closed the stream (${code} ${String(reason)}); reconnect with --since`, 1));
      await new Promise(() => {});
    },
  },
  {
    name: "metrics",
    help: ["metrics                              what GET /metrics serves Prometheus (for this token)"],
    async run(x) {
      process.stdout.write(await x.c.call("metrics"));
    },
  },
  {
    name: "shutdown-guests",
    help: ["shutdown-guests [--deadline S]       host shutdown: every guest shut down, halted after S seconds (default 60)"],
    flags: ["deadline"],
    async run(x) {
      const r = await x.c.call("shutdownGuests", { body: x.v.deadline ? { deadlineS: Number(x.v.deadline) } : {} });
      x.out(r, `${r.shutDown.length} shut down${r.shutDown.length ? ` (${r.shutDown.join(", ")})` : ""}, ${r.halted.length} halted${r.halted.length ? ` (${r.halted.join(", ")})` : ""}`);
    },
  },
  { name: "version", help: ["version"], run: async (x) => x.out(await x.c.call("version")) },
  { name: "health", help: ["health"], run: async (x) => x.out(await x.c.call("health")) },
];

#!/usr/bin/env node
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { InstanceView } from "../protocol/instances.js";
import { INSTANCE_ACTIONS } from "../protocol/instances.js";
import { ApiError, UmldClient, type Target } from "./client.js";
import { attachConsole } from "./console.js";

const USAGE = `usage: umlctl [global options] COMMAND [args]

commands:
  ls                                  list instances
  show NAME                           one instance (JSON)
  create NAME [--memory MIB] [--image IMG] [--kernel K]
  start|shutdown|halt|reboot|pause|resume NAME [--timeout S] [--no-wait]
  rm NAME [--force]                   delete (refused while running unless --force)
  console NAME [--no-scrollback]      attach the console; detach with Ctrl-]
  events                              print every event as one JSON line
  images | kernels | version | health

global options (or environment):
  --state-dir DIR   talk to DIR/umld.sock, no token needed (UMLD_STATE_DIR, default /var/lib/umld)
  --url URL         talk over TCP instead, e.g. http://127.0.0.1:7070 (UMLD_URL)
  --token TOKEN     bearer token for --url (UMLD_TOKEN; default: DIR/admin.token if readable)
  --json            machine-readable output`;

function fail(msg: string, code = 2): never {
  process.stderr.write(`umlctl: ${msg}\n`);
  process.exit(code);
}

function target(v: { "state-dir"?: string; url?: string; token?: string }): Target {
  const stateDir = v["state-dir"] ?? process.env.UMLD_STATE_DIR ?? "/var/lib/umld";
  const url = v.url ?? process.env.UMLD_URL;
  if (url) {
    let token = v.token ?? process.env.UMLD_TOKEN ?? null;
    if (!token && existsSync(`${stateDir}/admin.token`)) token = readFileSync(`${stateDir}/admin.token`, "utf8").trim();
    return { url, token };
  }
  return { socketPath: `${stateDir}/umld.sock` };
}

function table(list: InstanceView[]): string {
  const rows = [["NAME", "STATE", "READY", "MEMORY", "PID", "UPTIME", "IMAGE", "LAST EXIT"]];
  for (const i of list) {
    rows.push([
      i.name, i.state, i.ready ? "yes" : "no", `${i.memoryMiB}M`, i.pid ? String(i.pid) : "-",
      i.uptime === null ? "-" : `${Math.round(i.uptime)}s`, i.image, i.lastExit ? i.lastExit.reason : "-",
    ]);
  }
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(w[c]!)).join("  ").trimEnd()).join("\n");
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      "state-dir": { type: "string" }, url: { type: "string" }, token: { type: "string" }, json: { type: "boolean" },
      memory: { type: "string" }, image: { type: "string" }, kernel: { type: "string" }, timeout: { type: "string" },
      "no-wait": { type: "boolean" }, force: { type: "boolean" }, "no-scrollback": { type: "boolean" }, help: { type: "boolean", short: "h" },
    },
  });
  const [cmd, name] = positionals;
  if (values.help || !cmd) {
    process.stdout.write(USAGE + "\n");
    return;
  }
  const c = new UmldClient(target(values));
  const out = (v: unknown, human?: string): void => void process.stdout.write((values.json || human === undefined ? JSON.stringify(v, null, 2) : human) + "\n");
  const need = () => name ?? fail(`${cmd} needs an instance NAME`);

  if ((INSTANCE_ACTIONS as readonly string[]).includes(cmd)) {
    const body: Record<string, unknown> = { action: cmd, wait: !values["no-wait"] };
    if (values.timeout) body.timeoutS = Number(values.timeout);
    const r = await c.call("changeState", { params: { name: need() }, body });
    const i = r.instance;
    return out(r, values["no-wait"] ? `${cmd}: operation ${r.operation.id} started` : `${i.name}: ${i.state}${i.ready ? " (ready)" : ""}${i.state === "stopped" || i.state === "crashed" ? ` — ${i.lastExit?.reason ?? ""}` : ""}`);
  }
  switch (cmd) {
    case "ls": {
      const r = await c.call("listInstances");
      return out(r, r.instances.length ? table(r.instances) : "no instances");
    }
    case "show":
      return out(await c.call("getInstance", { params: { name: need() } }));
    case "create": {
      const body: Record<string, unknown> = { name: need() };
      if (values.memory) body.memoryMiB = Number(values.memory);
      if (values.image) body.image = values.image;
      if (values.kernel) body.kernel = values.kernel;
      const i = await c.call("createInstance", { body });
      return out(i, `created ${i.name} (${i.memoryMiB}M, image ${i.image}, kernel ${i.kernel})`);
    }
    case "rm": {
      const r = await c.call("deleteInstance", { params: { name: need() }, query: values.force ? { force: "true" } : {} });
      return out(r, `deleted ${r.deleted}`);
    }
    case "console":
      return attachConsole(c, need(), !values["no-scrollback"]);
    case "events": {
      const ws = c.websocket("/events");
      ws.on("message", (d) => process.stdout.write(String(d) + "\n"));
      ws.on("unexpected-response", (_q, res) => fail(`events: daemon answered ${res.statusCode}`, 1));
      ws.on("error", (e) => fail(`events: ${e.message}`, 1));
      await new Promise(() => {});
      return;
    }
    case "images":
      return out(await c.call("listImages"));
    case "kernels":
      return out(await c.call("listKernels"));
    case "version":
      return out(await c.call("version"));
    case "health":
      return out(await c.call("health"));
    default:
      fail(`unknown command '${cmd}'\n${USAGE}`);
  }
}

main().catch((e: unknown) => {
  if (e instanceof ApiError) {
    const issues = (e.body.details as { issues?: Array<{ path: string; message: string }> } | undefined)?.issues;
    fail(`${e.body.code}: ${e.body.message}${issues ? "\n" + issues.map((i) => `  ${i.path}: ${i.message}`).join("\n") : ""}`, 1);
  }
  const err = e as NodeJS.ErrnoException;
  if (err.code === "ENOENT" || err.code === "ECONNREFUSED") fail(`cannot reach umld (${err.message}); is it running? see --state-dir / --url`, 1);
  fail(err.message ?? String(e), 1);
});

#!/usr/bin/env node
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { z } from "zod";
import type { BodyIn, QueryIn } from "../protocol/contract.js";
import { INSTANCE_ACTIONS, OnHang, RestartPolicy, type InstanceView } from "../protocol/instances.js";
import { ImageRecipe } from "../protocol/images.js";
import { MconsoleCommand } from "../protocol/guest.js";
import { NetworkKind } from "../protocol/networks.js";
import { Permission, type Quotas } from "../protocol/tenants.js";
import { ApiError, CliClient, type Target } from "./client.js";
import { attachConsole } from "./console.js";
import { withProgress } from "./progress.js";

const USAGE = `usage: umlctl [global options] COMMAND [args]

commands:
  ls                                  list instances
  show NAME                           one instance (JSON)
  create NAME [--memory MIB] [--image IMG] [--kernel K] [--net-mbit N] [policy flags]
  set NAME [policy flags] [--net-mbit N|none]   change policies and limits; policy flags: --restart never|on-failure|always,
                                      --autostart / --no-autostart, --order N, --delay S, --hang-timeout S, --on-hang report|reset;
                                      --net-mbit: each switch/host NIC shaped to N Mbit/s each way, live (none: unlimited)
  start|shutdown|halt|reboot|pause|resume NAME [--timeout S] [--no-wait]
  rm NAME [--force]                   delete (refused while running unless --force)
  console NAME [--no-scrollback] [--channel ssl0]   attach the console (or a channel); detach with Ctrl-]
  channel ls NAME | add NAME CH | rm NAME CH        extra consoles (con1..15) and serial lines (ssl0..63)
  mem NAME MIB                        set the live memory target (plug/unplug now if running)
  disk ls
  disk attach NAME DISK [--size MIB | --image IMG] [--ro]   attach (creating the disk if --size/--image)
  disk detach NAME SLOT               e.g. ubdb
  kernel ls | add NAME PATH [--default] | rm NAME
  kernel upgrade INSTANCE KERNEL [--deadline S]   boot it now, rolled back if it fails
  kernel stage INSTANCE KERNEL|none   boot it at the next start
  kernel rollout KERNEL [--instances a,b] [--image IMG] [--from-kernel K] [--batch N] [--deadline S]
  mconsole NAME COMMAND [ARGS...] [--force]   e.g. mconsole web-1 proc meminfo
  guest NAME                          uptime, load, memory from the guest's /proc
  events                              print every event as one JSON line
  image ls | import NAME (--tar P | --dir P | --raw P) [--size MIB] [--notify] | rm NAME | verify NAME
  image build NAME --recipe busybox|debian [--size MIB]   (debian: debootstrap, minutes)
  snapshot ls NAME | create NAME SNAP | restore NAME SNAP | rm NAME SNAP
  clone SOURCE NEW [--snapshot SNAP]          O(1) from a snapshot, else a full copy (with progress)
  disk merge NAME IMAGE [--no-switch]         flatten the root disk into a standalone image
  net ls | rm NAME | create NAME [SUBNET] [--kind switch|host|user] [--nat] [--host-access]
                                      e.g. net create lan 10.77.0.0/24; net create wan 10.78.0.0/24 --kind host --nat
                                      --host-access (user, admins): its guests reach the host's services at 10.0.2.2
  nic add NAME NETWORK | rm NAME SLOT       NICs (live if running; rm needs the interface down in the guest)
  tenant ls | show T | rm T | create T [--max-instances N] [--max-memory MIB] [--max-disk MIB] [--max-snapshots N]
  tenant set T [--max-… flags]        change a tenant's quotas
  token ls T | revoke T ID | create T NAME [--actions read,console,reboot] [--expires S]
                                      the token is printed once; give it to the tenant (umlctl --url … --token …)
  audit [T] [--limit N]               the audit log (of tenant T), newest first
  images | kernels | version | health

global options (or environment):
  --state-dir DIR   talk to DIR/umld.sock, no token needed (UMLD_STATE_DIR, default /var/lib/umld)
  --url URL         talk over TCP instead, e.g. http://127.0.0.1:7070 (UMLD_URL)
  --token TOKEN     bearer token for --url (UMLD_TOKEN; default: DIR/admin.token if readable);
                    an https URL trusts the system CAs and NODE_EXTRA_CA_CERTS
  --tenant T        admins: act for tenant T, in its names and quotas (UMLD_TENANT)
  --json            machine-readable output`;

function fail(msg: string, code = 2): never {
  process.stderr.write(`umlctl: ${msg}\n`);
  process.exit(code);
}

function target(v: { "state-dir"?: string; url?: string; token?: string; tenant?: string }): Target {
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

/** The issues of an invalid request, as umlctl prints them (the daemon's own format, from the same schemas). */
function failInvalid(issues: Array<{ path: string; message: string }>): never {
  const first = issues[0];
  return fail(`invalid_request: ${first ? `invalid ${first.path}: ${first.message}` : "invalid request"}\n${issues.map((i) => `  ${i.path}: ${i.message}`).join("\n")}`, 1);
}

/** A flag's value as a request field of an enumerated type: refused here, exactly as the daemon would refuse it, when it is not one. */
function field<S extends z.ZodType>(schema: S, value: string, path: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) return failInvalid(r.error.issues.map((i) => ({ path: [path, ...i.path.map(String)].join("."), message: i.message })));
  return r.data;
}

type PolicyFlags = Pick<BodyIn<"patchInstance">, "restartPolicy" | "autostart" | "autostartOrder" | "autostartDelayS" | "hangTimeoutS" | "onHang">;

function policyFlags(v: { restart?: string; autostart?: boolean; "no-autostart"?: boolean; order?: string; delay?: string; "hang-timeout"?: string; "on-hang"?: string }): PolicyFlags {
  const p: PolicyFlags = {};
  if (v.restart) p.restartPolicy = field(RestartPolicy, v.restart, "body.restartPolicy");
  if (v.autostart) p.autostart = true;
  if (v["no-autostart"]) p.autostart = false;
  if (v.order) p.autostartOrder = Number(v.order);
  if (v.delay) p.autostartDelayS = Number(v.delay);
  if (v["hang-timeout"]) p.hangTimeoutS = Number(v["hang-timeout"]);
  if (v["on-hang"]) p.onHang = field(OnHang, v["on-hang"], "body.onHang");
  return p;
}

/** --net-mbit N|none as the `limits` object of create and PATCH (none lifts the limit). */
function limitFlags(v: { "net-mbit"?: string }): Pick<BodyIn<"patchInstance">, "limits"> {
  const n = v["net-mbit"];
  if (n === undefined) return {};
  return { limits: { netMbit: n === "none" ? null : Number(n) } };
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
      size: { type: "string" }, ro: { type: "boolean" }, default: { type: "boolean" }, deadline: { type: "string" },
      instances: { type: "string" }, channel: { type: "string" },
      tar: { type: "string" }, recipe: { type: "string" }, dir: { type: "string" }, raw: { type: "string" }, notify: { type: "boolean" },
      snapshot: { type: "string" }, "no-switch": { type: "boolean" },
      restart: { type: "string" }, autostart: { type: "boolean" }, "no-autostart": { type: "boolean" }, order: { type: "string" },
      delay: { type: "string" }, "hang-timeout": { type: "string" }, "on-hang": { type: "string" }, "from-kernel": { type: "string" }, batch: { type: "string" },
      kind: { type: "string" }, nat: { type: "boolean" }, "host-access": { type: "boolean" }, tenant: { type: "string" },
      "max-instances": { type: "string" }, "max-memory": { type: "string" }, "max-disk": { type: "string" }, "max-snapshots": { type: "string" },
      actions: { type: "string" }, expires: { type: "string" }, limit: { type: "string" }, "net-mbit": { type: "string" },
    },
  });
  const [cmd, name, ...rest] = positionals;
  if (values.help || !cmd) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const c = new CliClient(target(values));
  const out = (v: unknown, human?: string): void => void process.stdout.write(`${values.json || human === undefined ? JSON.stringify(v, null, 2) : human}\n`);
  const need = () => name ?? fail(`${cmd} needs an instance NAME`);

  const action = INSTANCE_ACTIONS.find((a) => a === cmd);
  if (action) {
    const body: BodyIn<"changeState"> = { action, wait: !values["no-wait"] };
    if (values.timeout) body.timeoutS = Number(values.timeout);
    if (action === "upgrade") {
      body.kernel = values.kernel ?? fail("upgrade needs --kernel K");
      if (values.deadline) body.deadlineS = Number(values.deadline);
    }
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
      const body: BodyIn<"createInstance"> = { name: need(), ...policyFlags(values) };
      if (values.memory) body.memoryMiB = Number(values.memory);
      if (values.image) body.image = values.image;
      if (values.kernel) body.kernel = values.kernel;
      Object.assign(body, limitFlags(values));
      const i = await c.call("createInstance", { body });
      return out(i, `created ${i.name} (${i.memoryMiB}M, image ${i.image}, kernel ${i.kernel})`);
    }
    case "rm": {
      const r = await c.call("deleteInstance", { params: { name: need() }, query: values.force ? { force: "true" } : {} });
      return out(r, `deleted ${r.deleted}`);
    }
    case "console":
      return attachConsole(c, need(), !values["no-scrollback"], values.channel);
    case "events": {
      const ws = c.websocket("/events");
      ws.on("message", (d) => process.stdout.write(`${String(d)}\n`));
      ws.on("unexpected-response", (_q, res) => fail(`events: daemon answered ${res.statusCode}`, 1));
      ws.on("error", (e) => fail(`events: ${e.message}`, 1));
      await new Promise(() => {});
      return;
    }
    case "set": {
      const body = { ...policyFlags(values), ...limitFlags(values) };
      if (Object.keys(body).length === 0) fail("set NAME needs a policy flag or --net-mbit (see --help)");
      const r = await c.call("patchInstance", { params: { name: need() }, body });
      return out(r, `${name}: ${JSON.stringify({ ...r.instance.policy, limits: r.instance.limits })}`);
    }
    case "mem": {
      const mib = rest[0] ?? fail("mem needs NAME MIB");
      const r = await c.call("patchInstance", { params: { name: need() }, body: { memoryMiB: Number(mib) } });
      const m = r.memory;
      return out(r, m
        ? `${name}: ${m.memoryMiB} MiB of ${r.instance.maxMemoryMiB} (requested ${m.requestedMiB}${m.limitedBy ? `; limited by ${m.limitedBy}` : ""}; guest MemFree ${Math.round((m.memory.guestMemFreeKiB ?? 0) / 1024)} MiB)`
        : `${name}: target ${r.instance.memoryMiB} MiB stored (applies when running)`);
    }
    case "disk": {
      const sub = name;
      if (sub === "ls") {
        const r = await c.call("listDisks");
        return out(r, r.disks.map((x) => `${x.name}\t${x.kind}\t${Math.round(x.sizeBytes / 1048576)}M\t${x.attachments.map((a) => `${a.instance}:${a.slot}${a.readOnly ? "(ro)" : ""}`).join(",") || "-"}`).join("\n") || "no disks");
      }
      const [inst, arg] = rest;
      if (sub === "attach") {
        const body: BodyIn<"attachDisk"> = { disk: arg ?? fail("disk attach NAME DISK"), readOnly: Boolean(values.ro) };
        if (values.size) body.sizeMiB = Number(values.size);
        if (values.image) body.image = values.image;
        const r = await c.call("attachDisk", { params: { name: inst ?? fail("disk attach NAME DISK") }, body });
        return out(r, `${r.disk} attached to ${inst} as /dev/${r.slot}${r.readOnly ? " (read-only)" : ""}${r.live ? " (live)" : ""}`);
      }
      if (sub === "merge") {
        const body = { image: arg ?? fail("disk merge NAME IMAGE"), switch: !values["no-switch"], wait: false };
        const r = await withProgress(c, () => c.call("mergeDisk", { params: { name: inst ?? fail("disk merge NAME IMAGE") }, body }));
        if (r.error) fail(`${r.error.code}: ${r.error.message}`, 1);
        return out(r, `${inst}: merged into image ${arg}${values["no-switch"] ? "" : ` (now on a fresh COW over it)`}`);
      }
      if (sub === "detach") {
        const r = await c.call("detachDisk", { params: { name: inst ?? fail("disk detach NAME SLOT"), slot: arg ?? fail("disk detach NAME SLOT") } });
        return out(r, `${r.disk} detached from ${inst} (${r.detached})`);
      }
      return fail("disk ls | attach | detach");
    }
    case "kernel": {
      const sub = name;
      const [a1, a2] = rest;
      switch (sub) {
        case "ls": {
          const r = await c.call("listKernels");
          return out(r, r.kernels.map((k) => `${k.name}\t${k.version}\t${k.sha256.slice(0, 12)}${k.isDefault ? "\tdefault" : ""}`).join("\n"));
        }
        case "add": {
          const r = await c.call("registerKernel", { body: { name: a1 ?? fail("kernel add NAME PATH"), path: a2 ?? fail("kernel add NAME PATH"), makeDefault: Boolean(values.default) } });
          return out(r, `registered ${r.name} (${r.version}, sha256 ${r.sha256.slice(0, 12)})`);
        }
        case "rm":
          return out(await c.call("deleteKernel", { params: { name: a1 ?? fail("kernel rm NAME") } }), `deleted ${a1}`);
        case "upgrade": {
          const body: BodyIn<"changeState"> = { action: "upgrade", kernel: a2 ?? fail("kernel upgrade INSTANCE KERNEL") };
          if (values.deadline) body.deadlineS = Number(values.deadline);
          const r = await c.call("changeState", { params: { name: a1 ?? fail("kernel upgrade INSTANCE KERNEL") }, body });
          return out(r, `${a1}: running ${r.instance.bootedKernel}`);
        }
        case "stage": {
          const k = a2 ?? fail("kernel stage INSTANCE KERNEL|none");
          const r = await c.call("patchInstance", { params: { name: a1 ?? fail("kernel stage INSTANCE KERNEL|none") }, body: { kernel: k === "none" ? null : k } });
          return out(r, `${a1}: next start boots ${r.instance.stagedKernel ?? r.instance.kernel}`);
        }
        case "rollout": {
          const selector: BodyIn<"rollout">["selector"] = {};
          if (values.instances) selector.instances = values.instances.split(",");
          if (values.image) selector.image = values.image;
          if (values["from-kernel"]) selector.kernel = values["from-kernel"];
          const body: BodyIn<"rollout"> = { selector, batchSize: Number(values.batch ?? 1) };
          if (values.deadline) body.deadlineS = Number(values.deadline);
          const r = await c.call("rollout", { params: { name: a1 ?? fail("kernel rollout KERNEL ...") }, body });
          const res = r.result;
          return out(r, res ? `upgraded: ${res.upgraded.join(", ") || "-"}` : `operation ${r.operation.id}`);
        }
        default:
          return fail("kernel ls | add | rm | upgrade | stage | rollout");
      }
    }
    case "channel": {
      const [inst, ch] = rest;
      if (name === "ls") {
        const r = await c.call("listChannels", { params: { name: inst ?? fail("channel ls NAME") } });
        return out(r, r.channels.map((x) => `${x.channel}\t${x.guestDevice}\t${x.hostPty ?? "-"}`).join("\n") || "no channels");
      }
      if (name === "add") {
        const r = await c.call("addChannel", { params: { name: inst ?? fail("channel add NAME CH") }, body: { channel: ch ?? fail("channel add NAME CH") } });
        return out(r, `${inst}: ${r.channel} added (guest ${r.guestDevice}); attach with: umlctl console ${inst} --channel ${r.channel}`);
      }
      if (name === "rm") {
        const r = await c.call("removeChannel", { params: { name: inst ?? fail("channel rm NAME CH"), channel: ch ?? fail("channel rm NAME CH") } });
        return out(r, `${inst}: ${r.removed} removed`);
      }
      return fail("channel ls | add | rm");
    }
    case "image": {
      const [a1] = rest;
      if (name === "ls") {
        const r = await c.call("listImages");
        return out(r, r.images.map((i) => `${i.name}\t${i.kind}\t${Math.round(i.sizeBytes / 1048576)}M\t${Math.round(i.allocatedBytes / 1048576)}M used\t${i.dependants.length} dependants`).join("\n"));
      }
      if (name === "import") {
        const type = values.tar ? "tar" : values.dir ? "dir" : values.raw ? "raw" : fail("image import NAME --tar P | --dir P | --raw P");
        const path = values.tar ?? values.dir ?? values.raw ?? fail("image import NAME --tar P | --dir P | --raw P");
        const body: BodyIn<"importImage"> = { name: a1 ?? fail("image import NAME ..."), source: { type, path }, wait: false };
        if (values.size) body.sizeMiB = Number(values.size);
        if (values.notify) body.readiness = "notify";
        const r = await withProgress(c, () => c.call("importImage", { body }));
        if (r.error) fail(`${r.error.code}: ${r.error.message}`, 1);
        return out(r, `imported ${a1}`);
      }
      if (name === "build") {
        const recipe = field(ImageRecipe, values.recipe ?? fail("image build needs --recipe busybox|debian"), "body.recipe");
        const body: BodyIn<"buildImage"> = { name: a1 ?? fail("image build NAME --recipe busybox|debian"), recipe, wait: false };
        if (values.size) body.sizeMiB = Number(values.size);
        const r = await withProgress(c, () => c.call("buildImage", { body }));
        if (r.error) fail(`${r.error.code}: ${r.error.message}`, 1);
        return out(r, `built ${a1}`);
      }
      if (name === "verify") {
        const v = await c.call("verifyImage", { params: { name: a1 ?? fail("image verify NAME") } });
        return out(v, `${a1}: ${v.ok ? "ok" : "NOT OK"} (sha256 ${v.actualSha256 === v.expectedSha256 ? "matches" : "differs"}; ${v.layers.filter((l) => !l.ok).length} of ${v.layers.length} layers invalid)`);
      }
      if (name === "rm") return out(await c.call("deleteImage", { params: { name: a1 ?? fail("image rm NAME") } }), `deleted ${a1}`);
      return fail("image ls | import | rm");
    }
    case "snapshot": {
      const [inst, snap] = rest;
      const need2 = (what: string) => fail(`snapshot ${name} ${what}`);
      if (name === "ls") {
        const r = await c.call("listSnapshots", { params: { name: inst ?? need2("NAME") } });
        return out(r, r.snapshots.map((x) => `${x.name}\t${x.createdAt}\t${Math.round(x.allocatedBytes / 1048576)}M\t${x.dependants.join(",") || "-"}`).join("\n") || "no snapshots");
      }
      if (name === "create") {
        const r = await withProgress(c, () => c.call("createSnapshot", { params: { name: inst ?? need2("NAME SNAP") }, body: { name: snap ?? need2("NAME SNAP"), wait: false } }));
        if (r.error) fail(`${r.error.code}: ${r.error.message}`, 1);
        return out(r, `${inst}: snapshot ${snap} taken`);
      }
      if (name === "restore") {
        const r = await c.call("restoreSnapshot", { params: { name: inst ?? need2("NAME SNAP"), snapshot: snap ?? need2("NAME SNAP") } });
        return out(r, `${inst}: restored to ${snap}`);
      }
      if (name === "rm") return out(await c.call("deleteSnapshot", { params: { name: inst ?? need2("NAME SNAP"), snapshot: snap ?? need2("NAME SNAP") } }), `${inst}: snapshot ${snap} deleted`);
      return fail("snapshot ls | create | restore | rm");
    }
    case "clone": {
      const target = rest[0] ?? fail("clone SOURCE NEW [--snapshot SNAP]");
      const body: BodyIn<"cloneInstance"> = { name: target, wait: false };
      if (values.snapshot) body.snapshot = values.snapshot;
      const r = await withProgress(c, () => c.call("cloneInstance", { params: { name: need() }, body }));
      if (r.error) fail(`${r.error.code}: ${r.error.message}`, 1);
      return out(r, `cloned ${name} into ${target}${values.snapshot ? ` from snapshot ${values.snapshot}` : " (full copy)"}`);
    }
    case "net": {
      const [a1, a2] = rest;
      if (name === "ls") {
        const r = await c.call("listNetworks");
        return out(r, r.networks.map((n) => `${n.name}\t${n.kind}${n.nat ? "+nat" : ""}${n.hostAccess ? "+host" : ""}\t${n.subnet}\t${n.bridge ?? "-"}\t${n.nics.map((x) => `${x.instance}:${x.slot}=${x.ip}`).join(",") || "-"}`).join("\n") || "no networks");
      }
      if (name === "create") {
        const body: BodyIn<"createNetwork"> = { name: a1 ?? fail("net create NAME [SUBNET] [--kind switch|host|user] [--nat] [--host-access]") };
        if (a2) body.subnet = a2;
        if (values.kind) body.kind = field(NetworkKind, values.kind, "body.kind");
        if (values.nat) body.nat = true;
        if (values["host-access"]) body.hostAccess = true;
        const r = await c.call("createNetwork", { body });
        return out(r, `created network ${r.name} (${r.kind}${r.nat ? ", NAT" : ""}${r.hostAccess ? ", host access" : ""}, ${r.subnet}${r.gateway ? `, host at ${r.gateway}` : ""}${r.bridge ? ` on ${r.bridge}` : ""})`);
      }
      if (name === "rm") return out(await c.call("deleteNetwork", { params: { name: a1 ?? fail("net rm NAME") } }), `deleted network ${a1}`);
      return fail("net ls | create | rm");
    }
    case "nic": {
      const [inst, arg] = rest;
      if (name === "add") {
        const r = await c.call("attachNic", { params: { name: inst ?? fail("nic add NAME NETWORK") }, body: { network: arg ?? fail("nic add NAME NETWORK") } });
        return out(r, `${inst}: ${r.slot} on ${r.network}, ${r.ip} (${r.mac})${r.live ? " (live)" : ""}`);
      }
      if (name === "rm") return out(await c.call("detachNic", { params: { name: inst ?? fail("nic rm NAME SLOT"), slot: arg ?? fail("nic rm NAME SLOT") } }), `${inst}: ${arg} removed`);
      return fail("nic add | rm");
    }
    case "mconsole": {
      const [command, ...args] = rest;
      const mc = field(MconsoleCommand, command ?? fail("mconsole NAME COMMAND [ARGS]"), "body.command");
      const r = await c.call("mconsole", { params: { name: need() }, body: { command: mc, args: args.join(" "), force: Boolean(values.force) } });
      return out(r, r.reply.replace(/^\n/, ""));
    }
    case "guest": {
      const g = await c.call("guestFacts", { params: { name: need() } });
      return out(g, `${g.hostname}: up ${Math.round(g.uptimeS)} s, load ${g.load.join(" ")}, memory ${Math.round(g.memFreeKiB / 1024)} of ${Math.round(g.memTotalKiB / 1024)} MiB free\n${g.kernelVersion}`);
    }
    case "tenant": {
      const t = rest[0];
      const quotas = () => {
        const q: Quotas = {};
        for (const [flag, key] of [["max-instances", "maxInstances"], ["max-memory", "maxMemoryMiB"], ["max-disk", "maxDiskMiB"], ["max-snapshots", "maxSnapshots"]] as const) {
          if (values[flag] !== undefined) q[key] = Number(values[flag]);
        }
        return q;
      };
      const line = (v: { name: string; quotas: Record<string, number | null>; usage: Record<string, number> }): string =>
        `${v.name}\tinstances ${v.usage.instances}/${v.quotas.maxInstances ?? "-"}\tmemory ${v.usage.memoryMiB}/${v.quotas.maxMemoryMiB ?? "-"} MiB\tdisk ${v.usage.diskMiB}/${v.quotas.maxDiskMiB ?? "-"} MiB\tsnapshots ${v.usage.snapshots}/${v.quotas.maxSnapshots ?? "-"}`;
      if (name === "ls") {
        const r = await c.call("listTenants");
        return out(r, r.tenants.map(line).join("\n") || "no tenants");
      }
      if (name === "create") return out(await c.call("createTenant", { body: { name: t ?? fail("tenant create T"), quotas: quotas() } }), `created tenant ${t}`);
      if (name === "set") return out(await c.call("patchTenant", { params: { tenant: t ?? fail("tenant set T --max-…") }, body: { quotas: quotas() } }), `tenant ${t} changed`);
      if (name === "show") {
        const r = await c.call("getTenant", { params: { tenant: t ?? fail("tenant show T") } });
        return out(r, line(r));
      }
      if (name === "rm") return out(await c.call("deleteTenant", { params: { tenant: t ?? fail("tenant rm T") } }), `deleted tenant ${t}`);
      return fail("tenant ls | show | create | set | rm");
    }
    case "token": {
      const [t, arg] = rest;
      if (name === "ls") {
        const r = await c.call("listTokens", { params: { tenant: t ?? fail("token ls T") } });
        return out(r, r.tokens.map((k) => `${k.id}\t${k.name}\t${k.actions.join(",")}\t${k.revokedAt ? "revoked" : k.expiresAt ? `expires ${k.expiresAt}` : "no expiry"}`).join("\n") || "no tokens");
      }
      if (name === "create") {
        const body: BodyIn<"createToken"> = { name: arg ?? fail("token create T NAME [--actions a,b] [--expires S]") };
        if (values.actions) body.actions = values.actions.split(",").map((a, i) => field(Permission, a, `body.actions.${i}`));
        if (values.expires) body.expiresInS = Number(values.expires);
        const r = await c.call("createToken", { params: { tenant: t ?? fail("token create T NAME") }, body });
        return out(r, r.token);
      }
      if (name === "revoke") return out(await c.call("revokeToken", { params: { tenant: t ?? fail("token revoke T ID"), token: arg ?? fail("token revoke T ID") } }), `revoked ${arg}`);
      return fail("token ls | create | revoke");
    }
    case "audit": {
      const query: QueryIn<"listAudit"> = {};
      if (values.limit) query.limit = values.limit;
      if (name) query.tenant = name;
      const r = await c.call("listAudit", { query });
      return out(r, r.entries.map((e) => `${e.at}\t${e.principal}\t${e.action}\t${e.object ?? "-"}\t${e.status} ${e.outcome}`).join("\n") || "no entries");
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

/** The zod issues an invalid_request carries in its details. */
function issuesOf(details: unknown): Array<{ path: string; message: string }> | null {
  if (typeof details !== "object" || details === null || !("issues" in details) || !Array.isArray(details.issues)) return null;
  return details.issues.map((i: unknown) => ({
    path: typeof i === "object" && i !== null && "path" in i ? String(i.path) : "",
    message: typeof i === "object" && i !== null && "message" in i ? String(i.message) : "",
  }));
}

main().catch((e: unknown) => {
  if (e instanceof ApiError) {
    const issues = issuesOf(e.details);
    fail(`${e.code}: ${e.message}${issues ? `\n${issues.map((i) => `  ${i.path}: ${i.message}`).join("\n")}` : ""}`, 1);
  }
  const err = e as NodeJS.ErrnoException;
  if (err.code === "ENOENT" || err.code === "ECONNREFUSED") fail(`cannot reach umld (${err.message}); is it running? see --state-dir / --url`, 1);
  fail(err.message ?? String(e), 1);
});

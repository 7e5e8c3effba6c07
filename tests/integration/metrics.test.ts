import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { TestDaemon, type ConsoleClient } from "../harness/daemon.js";
import { parseExposition, promtoolCheck, sampleValue, type Series } from "../harness/prometheus.js";

const MiB = 1048576;

/**
 * GET /metrics against a real guest: parsed as Prometheus text here and by
 * promtool, its series match the guest (memory target after a PATCH, CPU
 * seconds that grow, traffic on its TAP); who sees which series; the usage
 * history and the console log.
 */
describe("metrics, usage and the console log", { timeout: 300_000 }, () => {
  let d: TestDaemon;
  let con: ConsoleClient | null = null;
  let metricsToken = "";
  const tokens: Record<string, string> = {};
  const subnet = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}`;

  const scrape = async (token: string | null = metricsToken) => {
    const r = await d.api("GET", "/metrics", undefined, { token });
    return r;
  };
  const series = async (token?: string): Promise<Series[]> => {
    const r = await scrape(token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return parseExposition(r.body as string).series;
  };
  const until = async <T>(what: string, f: () => Promise<T | undefined | null | false>, ms = 30_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await f();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  };

  before(async () => {
    d = await TestDaemon.start({ logLevel: "info", args: ["--usage-interval", "1"] });
    metricsToken = readFileSync(`${d.stateDir}/metrics.token`, "utf8").trim();
    for (const t of ["acme", "beta"]) {
      assert.equal((await d.api("POST", "/v1/tenants", { name: t })).status, 201);
      tokens[t] = (await d.api("POST", `/v1/tenants/${t}/tokens`, { name: "all" })).body.token;
    }
    tokens.noMetrics = (await d.api("POST", "/v1/tenants/acme/tokens", { name: "no-metrics", actions: ["read", "create"] })).body.token;
  });
  after(async () => {
    con?.close();
    await d?.stop();
  });

  it("shows a running guest's series with its real figures, valid for promtool", async () => {
    const net = await d.api("POST", "/v1/networks", { name: "mnet", kind: "host", subnet: `${subnet}.0/24` });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    await d.create("m1", 96);
    assert.equal((await d.api("POST", "/v1/instances/m1/nics", { network: "mnet" })).status, 201);
    await d.mustAct("m1", "start");
    con = await d.shell("m1");

    const text = (await scrape()).body as string;
    assert.doesNotThrow(() => promtoolCheck(text), "promtool check metrics accepts the exposition");
    const { types } = parseExposition(text);
    assert.equal(types.get("umld_instance_cpu_seconds_total"), "counter");
    assert.equal(types.get("umld_instance_memory_target_bytes"), "gauge");
    assert.equal(types.get("umld_api_request_duration_seconds"), "histogram");
    assert.ok(!/\binstance="/.test(text), "no label is called instance (Prometheus renames it)");

    const m1 = { name: "m1", tenant: "" };
    let s = await series();
    assert.equal(sampleValue(s, "umld_instance_state", { ...m1, state: "running" }), 1);
    assert.equal(sampleValue(s, "umld_instance_state", { ...m1, state: "stopped" }), 0);
    assert.equal(sampleValue(s, "umld_instance_memory_target_bytes", m1), 96 * MiB);
    assert.equal(sampleValue(s, "umld_instance_boots_total", m1), 1);
    assert.ok(sampleValue(s, "umld_instance_uptime_seconds", m1)! > 0);
    assert.ok(sampleValue(s, "umld_instance_disk_allocated_bytes", m1)! > 0, "its COW holds what the boot wrote");
    assert.equal(sampleValue(s, "umld_instances", { state: "running" }), 1);
    assert.equal(sampleValue(s, "umld_supervisors_running"), 1);
    assert.equal(sampleValue(s, "umld_host_memory_committed_bytes"), 96 * MiB);
    assert.ok(sampleValue(s, "umld_host_memory_available_bytes")! > 0);

    // what the host really holds of the guest's memory, and the guest's own view, once sampled
    s = await until("host and guest memory figures", async () => {
      const x = await series();
      return sampleValue(x, "umld_instance_memory_guest_available_bytes", m1) !== undefined && sampleValue(x, "umld_instance_memory_host_allocated_bytes", m1) !== undefined ? x : null;
    });
    const hostBytes = sampleValue(s, "umld_instance_memory_host_allocated_bytes", m1)!;
    assert.ok(hostBytes > 4 * MiB && hostBytes <= 96 * MiB, `host-allocated ${hostBytes} is what a booted 96 MiB guest touched`);
    const avail = sampleValue(s, "umld_instance_memory_guest_available_bytes", m1)!;
    const memAvailable = Number(/MemAvailable:\s+(\d+)/.exec(await con.run("cat /proc/meminfo"))![1]) * 1024;
    assert.ok(Math.abs(avail - memAvailable) < 16 * MiB, `guest-available ${avail} is the guest's MemAvailable (${memAvailable})`);

    // CPU seconds grow while the guest works
    const cpu0 = sampleValue(s, "umld_instance_cpu_seconds_total", m1)!;
    assert.ok(cpu0 > 0, "booting took CPU");
    await con.run("i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done");
    const cpu1 = await until("CPU seconds to grow", async () => {
      const v = sampleValue(await series(), "umld_instance_cpu_seconds_total", m1)!;
      return v > cpu0 + 0.05 ? v : null;
    });
    assert.ok(cpu1 > cpu0);

    // traffic on its TAP, as the guest sees it
    const before = sampleValue(await series(), "umld_instance_network_transmit_packets_total", { ...m1, nic: "eth0" }) ?? 0;
    assert.match(await con.run(`ping -c 3 -W 3 ${subnet}.1`), / 0% packet loss/);
    await until("the pings counted on eth0", async () => {
      const x = await series();
      const tx = sampleValue(x, "umld_instance_network_transmit_packets_total", { ...m1, nic: "eth0" }) ?? 0;
      const rx = sampleValue(x, "umld_instance_network_receive_packets_total", { ...m1, nic: "eth0" }) ?? 0;
      return tx >= before + 3 && rx >= 3;
    });
  });

  it("follows a live memory change (PATCH) at the next scrape", async () => {
    const r = await d.api("PATCH", "/v1/instances/m1", { memoryMiB: 64 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const s = await series();
    assert.equal(sampleValue(s, "umld_instance_memory_target_bytes", { name: "m1", tenant: "" }), r.body.instance.memoryMiB * MiB);
    assert.equal(r.body.instance.memoryMiB, 64);
    assert.equal(sampleValue(s, "umld_instance_memory_max_bytes", { name: "m1", tenant: "" }), 96 * MiB);
    assert.equal(sampleValue(s, "umld_host_memory_committed_bytes"), 64 * MiB);
  });

  it("gives a tenant's metrics token its own series only, refuses the rest, and keeps the metrics token to /metrics", async () => {
    for (const t of ["acme", "beta"]) {
      const r = await d.api("POST", "/v1/instances", { name: "web", memoryMiB: 32 }, { token: tokens[t]! });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const all = await series();
    assert.equal(sampleValue(all, "umld_instance_state", { name: "acme.web", tenant: "acme", state: "stopped" }), 1, "the admin's view names the stored name and its tenant");
    const acme = await series(tokens.acme);
    assert.equal(sampleValue(acme, "umld_instance_state", { name: "web", tenant: "acme", state: "stopped" }), 1, "a tenant sees its own instance under its own name");
    assert.deepEqual([...new Set(acme.map((x) => x.labels.tenant))], ["acme"], "nothing of beta or the admin");
    assert.ok(!acme.some((x) => x.name.startsWith("umld_host_") || x.name === "umld_instances" || x.name.startsWith("process_") || x.name.startsWith("nodejs_")), "nothing of the host");
    assert.equal((await scrape(tokens.noMetrics)).status, 403, "a token without the metrics permission");
    assert.equal((await scrape(null)).status, 401);
    assert.equal((await scrape(`umld_${"0".repeat(64)}`)).status, 401);
    const asMetrics = await d.api("GET", "/v1/instances", undefined, { token: metricsToken });
    assert.equal(asMetrics.status, 403, "the metrics token reads nothing else");
    assert.equal(asMetrics.body.error.code, "forbidden");
    assert.equal((await d.api("POST", "/v1/instances", { name: "x" }, { token: metricsToken })).status, 403);
  });

  it("serves the usage history and the latest readings, a tenant's own only", async () => {
    const h = await d.api("GET", "/v1/instances/m1/usage");
    assert.equal(h.status, 200);
    assert.equal(h.body.name, "m1");
    assert.ok(h.body.samples.length >= 1, "a reading kept");
    assert.ok(h.body.samples.every((x: { memoryTargetBytes: number; cpuSeconds: number }) => [96 * MiB, 64 * MiB].includes(x.memoryTargetBytes) && x.cpuSeconds > 0));
    const u = await until("a reading with the new target", async () => {
      const x = await d.api("GET", "/v1/usage");
      return x.body.instances.find((i: { name: string }) => i.name === "m1").sample.memoryTargetBytes === 64 * MiB ? x : null;
    });
    const m1 = u.body.instances.find((x: { name: string }) => x.name === "m1");
    assert.ok(m1.sample.cpuSeconds > 0 && m1.sample.cpuPercent !== null && m1.sample.memoryHostBytes > 0);
    assert.equal(u.body.instances.find((x: { name: string }) => x.name === "acme.web").sample, null, "a stopped guest has no live reading");
    const mine = await d.api("GET", "/v1/usage", undefined, { token: tokens.acme! });
    assert.deepEqual(
      mine.body.instances.map((x: { name: string }) => x.name),
      ["web"],
    );
    assert.equal((await d.api("GET", "/v1/instances/m1/usage", undefined, { token: tokens.acme! })).status, 404, "another's instance does not exist for a tenant");
  });

  it("tails the console log for whoever may attach the console, audited", async () => {
    await con!.run("echo console-log-marker-$((40+2))");
    const r = await until("the marker in the console log", async () => {
      const x = await d.api("GET", "/v1/instances/m1/console/log?tail=20");
      return x.status === 200 && (x.body as string).includes("console-log-marker-42") ? x : null;
    });
    assert.ok((r.body as string).split("\n").length <= 21, "20 lines at most");
    assert.equal((await d.api("GET", "/v1/instances/m1/console/log?tail=0")).status, 400);
    const audit = await d.api("GET", "/v1/audit?limit=20");
    assert.ok(
      audit.body.entries.some((e: { action: string; object: string }) => e.action === "consoleLog" && e.object === "instances/m1"),
      "a console log read is audited like an attach",
    );
    assert.equal((await d.api("GET", "/v1/instances/web/console/log", undefined, { token: tokens.noMetrics! })).status, 403, "read without console is not enough");
  });
});

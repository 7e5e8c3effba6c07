import { collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { INSTANCE_STATES } from "../../protocol/instances.js";
import { CRASH_CLASSES } from "../../core/metrics/crash-reasons.js";
import type { InstanceMetrics, MetricsSource } from "../../core/metrics/metrics-source.js";
import type { Scope } from "../auth/scope.js";
import { Exposition, labelText, type Sample } from "./exposition.js";

const LABELS = ["name", "tenant"] as const;
type Labels = Record<(typeof LABELS)[number], string>;

/**
 * GET /metrics in the Prometheus text format (prom-client). The daemon's own
 * series (process, API request durations) live in one long-lived registry;
 * the instances' are written per scrape (exposition.ts) from MetricsSource's cached figures,
 * only those the caller may see: an admin or the metrics token gets every
 * instance and the host, a tenant token its own instances (names as it
 * knows them) and nothing of the host.
 */
export class DaemonMetrics {
  readonly daemon = new Registry();
  readonly requestDuration: Histogram<"route" | "method" | "code">;

  constructor(version: string) {
    collectDefaultMetrics({ register: this.daemon });
    // gauges named like counters: Prometheus's own linter (promtool check metrics) refuses them
    for (const n of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) this.daemon.removeSingleMetric(n);
    this.requestDuration = new Histogram({
      name: "umld_api_request_duration_seconds",
      help: "HTTP API requests by route (the contract's name), method and status",
      labelNames: ["route", "method", "code"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      registers: [this.daemon],
    });
    new Gauge({ name: "umld_build_info", help: "The daemon's version (always 1)", labelNames: ["version"], registers: [this.daemon] }).set({ version }, 1);
  }

  /** The exposition for this caller. */
  async render(source: MetricsSource, scope: Scope): Promise<string> {
    const { instances, host } = source.read();
    const x = new Exposition();
    const m = {
      state: x.family("umld_instance_state", "1 for the instance's lifecycle state, 0 for the others", "gauge"),
      ready: x.family("umld_instance_ready", "1 when the guest signalled readiness in this boot", "gauge"),
      target: x.family("umld_instance_memory_target_bytes", "The live memory target", "gauge"),
      max: x.family("umld_instance_memory_max_bytes", "The boot size (maxMemoryMiB)", "gauge"),
      host: x.family("umld_instance_memory_host_allocated_bytes", "Bytes of the guest's RAM file backed on the host (running guests)", "gauge"),
      avail: x.family("umld_instance_memory_guest_available_bytes", "MemAvailable inside the guest, read every 30 s at most (running guests)", "gauge"),
      cpu: x.family("umld_instance_cpu_seconds_total", "CPU time of the guest's host processes in this boot, from its cgroup (restarts at 0 each boot)", "counter"),
      disk: x.family("umld_instance_disk_allocated_bytes", "Bytes the instance's writable disks (COW and data disks) use on the host", "gauge"),
      rxB: x.family("umld_instance_network_receive_bytes_total", "Bytes the guest received on a NIC with a host interface", "counter"),
      txB: x.family("umld_instance_network_transmit_bytes_total", "Bytes the guest sent on a NIC with a host interface", "counter"),
      rxP: x.family("umld_instance_network_receive_packets_total", "Packets the guest received on a NIC with a host interface", "counter"),
      txP: x.family("umld_instance_network_transmit_packets_total", "Packets the guest sent on a NIC with a host interface", "counter"),
      crashes: x.family("umld_instance_crashes_total", "Crashes since the daemon started, by reason class", "counter"),
      boots: x.family("umld_instance_boots_total", "Boots of the instance, over its life", "counter"),
      uptime: x.family("umld_instance_uptime_seconds", "Seconds since the running guest started", "gauge"),
    };
    for (const i of instances) {
      if (!scope.sees(i.name)) continue;
      instanceSeries(m, i, { name: scope.prefix ? i.name.slice(scope.prefix.length) : i.name, tenant: i.tenant ?? "" });
    }
    if (scope.prefix !== null || scope.principal.tenant !== null) return x.text();
    const byState = x.family("umld_instances", "Instances by lifecycle state", "gauge");
    for (const s of INSTANCE_STATES) byState(labelText({ state: s }), host.instancesByState[s]);
    x.family("umld_host_memory_committed_bytes", "Sum of the memory targets of active guests", "gauge")("", host.memoryCommittedBytes);
    if (host.memoryAvailableBytes !== null) x.family("umld_host_memory_available_bytes", "MemAvailable of the host", "gauge")("", host.memoryAvailableBytes);
    x.family("umld_supervisors_running", "Guests with a supervisor worker", "gauge")("", host.supervisors);
    return x.text() + (await this.daemon.metrics());
  }
}

function instanceSeries(m: Record<string, Sample>, i: InstanceMetrics, labels: Labels): void {
  const l = labelText(labels);
  const set = (k: string, v: number | null | undefined, extra?: Record<string, string>) => m[k]!(extra ? `${l},${labelText(extra)}` : l, v);
  for (const s of INSTANCE_STATES) set("state", s === i.state ? 1 : 0, { state: s });
  set("ready", i.ready ? 1 : 0);
  set("target", i.memoryTargetBytes);
  set("max", i.memoryMaxBytes);
  set("disk", i.diskAllocatedBytes);
  set("boots", i.boots);
  set("uptime", i.uptimeS);
  for (const c of CRASH_CLASSES) set("crashes", i.crashes[c], { reason: c });
  if (!i.live) return;
  set("host", i.live.memoryHostBytes);
  set("avail", i.live.memoryGuestAvailableBytes);
  set("cpu", i.live.cpuSeconds);
  for (const n of i.live.nics) {
    set("rxB", n.counters.rxBytes, { nic: n.slot });
    set("txB", n.counters.txBytes, { nic: n.slot });
    set("rxP", n.counters.rxPackets, { nic: n.slot });
    set("txP", n.counters.txPackets, { nic: n.slot });
  }
}

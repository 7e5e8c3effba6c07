import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { INSTANCE_STATES } from "../../protocol/instances.js";
import { CRASH_CLASSES } from "../../core/metrics/crash-reasons.js";
import type { InstanceMetrics, MetricsSource } from "../../core/metrics/metrics-source.js";
import type { Scope } from "../auth/scope.js";

const LABELS = ["name", "tenant"] as const;
type Labels = Record<(typeof LABELS)[number], string>;

/**
 * GET /metrics in the Prometheus text format (prom-client). The daemon's own
 * series (process, API request durations) live in one long-lived registry;
 * the instances' are built per scrape from MetricsSource's cached figures,
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
    const r = new Registry();
    const gauge = (name: string, help: string, extra: string[] = []) => new Gauge({ name, help, labelNames: [...LABELS, ...extra], registers: [r] });
    const counter = (name: string, help: string, extra: string[] = []) => new Counter({ name, help, labelNames: [...LABELS, ...extra], registers: [r] });
    const m = {
      state: gauge("umld_instance_state", "1 for the instance's lifecycle state, 0 for the others", ["state"]),
      ready: gauge("umld_instance_ready", "1 when the guest signalled readiness in this boot"),
      target: gauge("umld_instance_memory_target_bytes", "The live memory target"),
      max: gauge("umld_instance_memory_max_bytes", "The boot size (maxMemoryMiB)"),
      host: gauge("umld_instance_memory_host_allocated_bytes", "Bytes of the guest's RAM file backed on the host (running guests)"),
      avail: gauge("umld_instance_memory_guest_available_bytes", "MemAvailable inside the guest, read every 30 s at most (running guests)"),
      cpu: counter("umld_instance_cpu_seconds_total", "CPU time of the guest's host processes in this boot, from its cgroup (restarts at 0 each boot)"),
      disk: gauge("umld_instance_disk_allocated_bytes", "Bytes the instance's writable disks (COW and data disks) use on the host"),
      rxB: counter("umld_instance_network_receive_bytes_total", "Bytes the guest received on a NIC with a host interface", ["nic"]),
      txB: counter("umld_instance_network_transmit_bytes_total", "Bytes the guest sent on a NIC with a host interface", ["nic"]),
      rxP: counter("umld_instance_network_receive_packets_total", "Packets the guest received on a NIC with a host interface", ["nic"]),
      txP: counter("umld_instance_network_transmit_packets_total", "Packets the guest sent on a NIC with a host interface", ["nic"]),
      crashes: counter("umld_instance_crashes_total", "Crashes since the daemon started, by reason class", ["reason"]),
      boots: counter("umld_instance_boots_total", "Boots of the instance, over its life"),
      uptime: gauge("umld_instance_uptime_seconds", "Seconds since the running guest started"),
    };
    for (const i of instances) {
      if (!scope.sees(i.name)) continue;
      this.instance(m, i, { name: scope.prefix ? i.name.slice(scope.prefix.length) : i.name, tenant: i.tenant ?? "" });
    }
    if (scope.prefix !== null || scope.principal.tenant !== null) return r.metrics();
    const byState = new Gauge({ name: "umld_instances", help: "Instances by lifecycle state", labelNames: ["state"], registers: [r] });
    for (const s of INSTANCE_STATES) byState.set({ state: s }, host.instancesByState[s]);
    new Gauge({ name: "umld_host_memory_committed_bytes", help: "Sum of the memory targets of active guests", registers: [r] }).set(host.memoryCommittedBytes);
    if (host.memoryAvailableBytes !== null) new Gauge({ name: "umld_host_memory_available_bytes", help: "MemAvailable of the host", registers: [r] }).set(host.memoryAvailableBytes);
    new Gauge({ name: "umld_supervisors_running", help: "Guests with a supervisor worker", registers: [r] }).set(host.supervisors);
    return (await r.metrics()) + (await this.daemon.metrics());
  }

  private instance(m: Record<string, Gauge<string> | Counter<string>>, i: InstanceMetrics, l: Labels): void {
    const set = (k: string, v: number | null | undefined, extra: Record<string, string> = {}) => {
      if (v === null || v === undefined) return;
      const metric = m[k]!;
      if (metric instanceof Counter) metric.inc({ ...l, ...extra }, v);
      else metric.set({ ...l, ...extra }, v);
    };
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
}

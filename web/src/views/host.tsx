import { INSTANCE_STATES } from "../../../protocol/instances.js";
import { useApp } from "../context.js";
import { duration, mib } from "../format.js";
import { ErrorText, Section, Table, useLoad, useSubscription } from "../ui.js";

/** Admins: the host's figures (GET /v1/host). Tenants: their own guests by state and their quotas. */
export function HostView() {
  const { session } = useApp();
  return (
    <>
      <h1 tabIndex={-1}>{session.admin ? "Host" : "Overview"}</h1>
      {session.admin ? <HostFigures /> : <TenantFigures />}
    </>
  );
}

function ByState({ counts }: { counts: Record<string, number> }) {
  return (
    <Table caption="Instances by state">
      <thead>
        <tr>
          {INSTANCE_STATES.map((s) => (
            <th scope="col" key={s}>
              {s}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        <tr>
          {INSTANCE_STATES.map((s) => (
            <td key={s} data-state={s}>
              {counts[s] ?? 0}
            </td>
          ))}
        </tr>
      </tbody>
    </Table>
  );
}

function HostFigures() {
  const { session, instances } = useApp();
  useSubscription(instances.subscribe);
  const host = useLoad(() => session.client.call("host"), [instances.items.size, [...instances.items.values()].map((i) => i.state).join()]);
  const h = host.data;
  return (
    <>
      <ErrorText error={host.error} />
      {h ? (
        <>
          <Section title="Guests">
            <p>{h.instances.total} instances.</p>
            <ByState counts={h.instances.byState} />
          </Section>
          <Section title="Host memory">
            <dl class="details">
              <dt>Committed to guests</dt>
              <dd data-field="committed">
                {mib(h.memory.committedMiB)} (boot sizes; live targets {mib(h.memory.targetMiB)})
              </dd>
              <dt>Available</dt>
              <dd data-field="available">
                {mib(h.memory.availableMiB)} of {mib(h.memory.totalMiB)}
              </dd>
            </dl>
            <label class="meter">
              <span>Committed of total</span>
              <meter min={0} max={h.memory.totalMiB} value={h.memory.committedMiB} high={h.memory.totalMiB * 0.9} />
            </label>
            <label class="meter">
              <span>In use on the host</span>
              <meter min={0} max={h.memory.totalMiB} value={h.memory.totalMiB - h.memory.availableMiB} high={h.memory.totalMiB * 0.9} />
            </label>
          </Section>
          <Section title="Daemon">
            <dl class="details">
              <dt>CPUs</dt>
              <dd>{h.cpus}</dd>
              <dt>Load</dt>
              <dd>{h.loadAverage.map((l) => l.toFixed(2)).join(" ")}</dd>
              <dt>umld</dt>
              <dd>
                {h.daemonVersion}, up {duration(h.uptimeS)}
              </dd>
            </dl>
          </Section>
        </>
      ) : host.error ? null : (
        <p>Loading…</p>
      )}
    </>
  );
}

function TenantFigures() {
  const { session, instances } = useApp();
  useSubscription(instances.subscribe);
  const tenant = useLoad(() => session.client.call("getTenant", { params: { tenant: session.me.tenant ?? "" } }), []);
  const counts: Record<string, number> = {};
  for (const i of instances.items.values()) counts[i.state] = (counts[i.state] ?? 0) + 1;
  const t = tenant.data;
  const row = (label: string, used: number, max: number | null, fmt: (n: number) => string = String) => (
    <>
      <dt>{label}</dt>
      <dd>
        {fmt(used)}
        {max !== null ? ` of ${fmt(max)}` : " (no quota)"}
      </dd>
    </>
  );
  return (
    <>
      <Section title="Your instances">
        <ByState counts={counts} />
      </Section>
      <ErrorText error={tenant.error} />
      {t ? (
        <Section title="Quotas">
          <dl class="details">
            {row("Instances", t.usage.instances, t.quotas.maxInstances)}
            {row("Memory", t.usage.memoryMiB, t.quotas.maxMemoryMiB, mib)}
            {row("Disk", t.usage.diskMiB, t.quotas.maxDiskMiB, mib)}
            {row("Snapshots", t.usage.snapshots, t.quotas.maxSnapshots)}
          </dl>
        </Section>
      ) : null}
    </>
  );
}

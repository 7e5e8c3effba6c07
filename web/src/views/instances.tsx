import type { InstanceView as Instance } from "../../../protocol/instances.js";
import type { UsageSample } from "../../../protocol/usage.js";
import { useApp } from "../context.js";
import { bytes, duration, mib } from "../format.js";
import { href } from "../router.js";
import { ErrorText, StateBadge, Table, useSubscription, useTick } from "../ui.js";

/** CPU use from the daemon's latest reading: percent of one core now, and seconds this boot. */
export function cpuUse(u: UsageSample | null | undefined): string {
  if (!u || u.cpuSeconds === null) return "—";
  return `${u.cpuPercent === null ? "" : `${u.cpuPercent.toFixed(0)} %, `}${u.cpuSeconds.toFixed(1)} s`;
}

/** Seconds up now: the uptime fetched, counted on in the page. */
export function uptimeNow(i: Instance, fetchedAt: number | undefined): number | null {
  if (i.uptime === null || i.pid === null) return null;
  return i.uptime + (i.state === "running" || i.state === "paused" ? (performance.now() - (fetchedAt ?? performance.now())) / 1000 : 0);
}

export function crashReason(i: Instance): string | null {
  return i.state === "crashed" ? (i.lastExit?.reason ?? "unknown") : null;
}

/** The guest's own MemAvailable, as the sampler last read it (every 30 s at most). */
export function guestAvailable(u: UsageSample | null | undefined): string {
  return u?.memoryGuestAvailableBytes == null ? "—" : `${bytes(u.memoryGuestAvailableBytes)} available`;
}

export function InstancesView() {
  const { instances } = useApp();
  useSubscription(instances.subscribe);
  useTick(1000);
  const list = [...instances.items.values()].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <>
      <h1 tabIndex={-1}>Instances</h1>
      <ErrorText error={instances.error} />
      {!instances.loaded ? (
        <p>Loading…</p>
      ) : list.length === 0 ? (
        <p>No instances yet.</p>
      ) : (
        <Table caption="Instances">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Ready</th>
              <th scope="col">Memory target</th>
              <th scope="col">In the guest</th>
              <th scope="col">Host</th>
              <th scope="col">CPU</th>
              <th scope="col">Uptime</th>
              <th scope="col">Image</th>
              <th scope="col">Kernel</th>
            </tr>
          </thead>
          <tbody>
            {list.map((i) => {
              const u = i.pid !== null ? instances.usage.get(i.name) : null;
              const why = crashReason(i);
              return (
                <tr key={i.name} data-instance={i.name}>
                  <th scope="row">
                    <a href={href("instances", i.name)}>{i.name}</a>
                  </th>
                  <td>
                    <StateBadge state={i.state} />
                    {i.busy ? <span class="busy"> ({i.busy.replace(/^instance\./, "")}…)</span> : null}
                    {why ? <div class="reason">{why}</div> : null}
                  </td>
                  <td>{i.state === "running" ? (i.ready ? "yes" : "not yet") : "—"}</td>
                  <td>
                    {mib(i.memoryMiB)}
                    {i.maxMemoryMiB !== i.memoryMiB ? <small> of {mib(i.maxMemoryMiB)}</small> : null}
                  </td>
                  <td>{guestAvailable(u)}</td>
                  <td>{u?.memoryHostBytes == null ? "—" : bytes(u.memoryHostBytes)}</td>
                  <td data-field="cpu">{cpuUse(u)}</td>
                  <td>{duration(uptimeNow(i, instances.fetchedAt.get(i.name)))}</td>
                  <td>{i.image}</td>
                  <td>{i.bootedKernel ?? i.kernel}</td>
                </tr>
              );
            })}
          </tbody>
        </Table>
      )}
    </>
  );
}

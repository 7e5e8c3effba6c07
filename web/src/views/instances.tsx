import type { InstanceView as Instance, MemoryView } from "../../../protocol/instances.js";
import { useApp } from "../context.js";
import { duration, kib, bytes, mib } from "../format.js";
import { href } from "../router.js";
import { ErrorText, StateBadge, Table, useSubscription, useTick } from "../ui.js";

/** Host CPU time this boot, as the daemon last measured it. */
export function cpuTime(i: Instance): string {
  return i.cpuSeconds === null ? "—" : `${i.cpuSeconds.toFixed(1)} s`;
}

/** Seconds up now: the uptime fetched, counted on in the page. */
export function uptimeNow(i: Instance, fetchedAt: number | undefined): number | null {
  if (i.uptime === null || i.pid === null) return null;
  return i.uptime + (i.state === "running" || i.state === "paused" ? (performance.now() - (fetchedAt ?? performance.now())) / 1000 : 0);
}

export function crashReason(i: Instance): string | null {
  return i.state === "crashed" ? (i.lastExit?.reason ?? "unknown") : null;
}

export function guestView(m: MemoryView | null | undefined): string {
  if (!m || m.guestMemTotalKiB === null) return "—";
  return `${kib(m.guestMemFreeKiB)} free of ${kib(m.guestMemTotalKiB)}`;
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
              <th scope="col">Guest view</th>
              <th scope="col">Host</th>
              <th scope="col">CPU</th>
              <th scope="col">Uptime</th>
              <th scope="col">Image</th>
              <th scope="col">Kernel</th>
            </tr>
          </thead>
          <tbody>
            {list.map((i) => {
              const m = instances.memory.get(i.name);
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
                  <td>{i.pid !== null ? guestView(m) : "—"}</td>
                  <td>{i.pid !== null && m ? bytes(m.hostAllocatedBytes) : "—"}</td>
                  <td>{cpuTime(i)}</td>
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

import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../../../client/index.js";
import type { Event } from "../../../protocol/events.js";
import type { InstanceView as Instance } from "../../../protocol/instances.js";
import { useApp } from "../context.js";
import { time } from "../format.js";
import { ActionCell, ErrorText, Field, Outcome, Section, Table, useAction, useLoad } from "../ui.js";

export function NetworkTab({ i }: { i: Instance }) {
  const { session, instances } = useApp();
  const canNet = session.can("network");
  const nets = useLoad(() => session.client.call("listNetworks"), []);
  const act = useAction();
  const [network, setNetwork] = useState("");
  const attach = (e: { preventDefault(): void }) => {
    e.preventDefault();
    void act.run(async () => {
      const r = await session.client.call("attachNic", { params: { name: i.name }, body: { network } });
      await instances.refresh(i.name);
      return `Added ${r.slot} on ${r.network} (${r.ip})${r.live ? ", live" : ""}.`;
    });
  };
  const detach = (slot: string) =>
    act.run(async () => {
      await session.client.call("detachNic", { params: { name: i.name, slot } });
      await instances.refresh(i.name);
      return `Removed ${slot}.`;
    });
  return (
    <Section title="Network interfaces">
      {i.nics.length === 0 ? (
        <p>No NICs.</p>
      ) : (
        <Table caption="Network interfaces">
          <thead>
            <tr>
              <th scope="col">Slot</th>
              <th scope="col">Network</th>
              <th scope="col">Address</th>
              <th scope="col">MAC</th>
              <th scope="col">Host side</th>
              {canNet ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {i.nics.map((n) => (
              <tr key={n.slot}>
                <th scope="row">{n.slot}</th>
                <td>{n.network}</td>
                <td>{n.ip}</td>
                <td>{n.mac}</td>
                <td>{n.hostInterface ?? "—"}</td>
                {canNet ? (
                  <ActionCell label={`Remove ${n.slot}`} disabled={act.busy} onClick={() => detach(n.slot)}>
                    Remove
                  </ActionCell>
                ) : null}
              </tr>
            ))}
          </tbody>
        </Table>
      )}
      {canNet ? (
        <form class="inline" onSubmit={attach}>
          <Field label="Network">
            <select required value={network} onChange={(e) => setNetwork(e.currentTarget.value)}>
              <option value="">Choose a network</option>
              {(nets.data?.networks ?? []).map((n) => (
                <option key={n.name} value={n.name}>
                  {n.name} ({n.kind}, {n.subnet})
                </option>
              ))}
            </select>
          </Field>
          <button type="submit" disabled={act.busy}>
            Add a NIC
          </button>
          <Outcome action={act} />
        </form>
      ) : null}
      <ErrorText error={nets.error} />
    </Section>
  );
}

/** The kernel it boots, and an upgrade that rolls back by itself when the new kernel fails: the result shown either way. */
export function KernelTab({ i }: { i: Instance }) {
  const { session, instances } = useApp();
  const kernels = useLoad(() => session.client.call("listKernels"), []);
  const act = useAction();
  const [kernel, setKernel] = useState("");
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const upgrade = (e: globalThis.Event) => {
    e.preventDefault();
    setResult(null);
    void act.run(async () => {
      try {
        await session.client.call("changeState", { params: { name: i.name }, body: { action: "upgrade", kernel } });
        setResult({ ok: true, text: `Upgraded: ${i.name} runs ${kernel}.` });
      } catch (err) {
        if (!ApiError.is(err, "upgrade_rolled_back")) throw err;
        setResult({ ok: false, text: `Rolled back: ${err.message}` });
      } finally {
        await instances.refresh(i.name);
      }
    });
  };
  return (
    <Section title="Kernel">
      <dl class="details">
        <dt>Boots next</dt>
        <dd>{i.kernel}</dd>
        <dt>Running</dt>
        <dd>{i.bootedKernel ?? "—"}</dd>
        <dt>Staged</dt>
        <dd>{i.stagedKernel ?? "—"}</dd>
      </dl>
      {session.can("power") && (i.state === "running" || i.state === "stopped" || i.state === "crashed") ? (
        <form class="inline" onSubmit={upgrade}>
          <Field label="Upgrade to kernel">
            <select required value={kernel} onChange={(e) => setKernel(e.currentTarget.value)}>
              <option value="">Choose a kernel</option>
              {(kernels.data?.kernels ?? []).map((k) => (
                <option key={k.name} value={k.name}>
                  {k.name} ({k.version})
                </option>
              ))}
            </select>
          </Field>
          <button type="submit" disabled={act.busy || !kernel}>
            Upgrade kernel
          </button>
        </form>
      ) : null}
      <Outcome action={act} />
      {result ? (
        <p role="status" class={result.ok ? "ok" : "error"}>
          {result.text}
        </p>
      ) : null}
      <ErrorText error={kernels.error} />
    </Section>
  );
}

function describe(e: Event): string {
  switch (e.type) {
    case "instance.state":
      return `${e.from} → ${e.to}: ${e.reason}`;
    case "instance.ready":
      return `ready after ${e.bootMs} ms`;
    case "instance.memory":
      return `memory ${e.memoryMiB} MiB (asked ${e.requestedMiB})${e.limitedBy ? `, limited by ${e.limitedBy}` : ""}`;
    case "instance.disk":
      return `${e.disk} ${e.change} as ${e.slot}${e.live ? " (live)" : ""}`;
    case "instance.upgrade":
      return `kernel ${e.from} → ${e.to}: ${e.status}${e.reason ? ` (${e.reason})` : ""}`;
    case "instance.hang":
      return `no progress for ${e.evidence.sinceS} s (${e.evidence.probe}): ${e.action}`;
    case "instance.restart":
      return `restart ${e.attempt} in ${e.delayS} s: ${e.reason}`;
    case "instance.flagged":
      return `flagged: ${e.flag}`;
    case "operation":
      return `${e.operation.kind} ${e.operation.status}${e.operation.error ? `: ${e.operation.error.message}` : ""}`;
    default:
      return e.type;
  }
}

/** This instance's events since the page opened, newest first, as they arrive. */
export function EventsTab({ i }: { i: Instance }) {
  const { stream } = useApp();
  const mine = (e: Event) => (e.type === "operation" ? e.operation.target === i.name : e.instance === i.name);
  const [events, setEvents] = useState<Event[]>(() => stream.recent.filter(mine).reverse());
  useEffect(() => stream.on((e) => mine(e) && setEvents((old) => [e, ...old].slice(0, 200))), [i.name]);
  return (
    <Section title="Events">
      <p class="fine">Since this page was opened; new ones appear at the top.</p>
      {events.length === 0 ? (
        <p>No events yet.</p>
      ) : (
        <Table caption="Events">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Type</th>
              <th scope="col">What</th>
            </tr>
          </thead>
          <tbody aria-live="polite">
            {events.map((e, n) => (
              <tr key={`${e.timestamp}-${n}`}>
                <td>{time(e.timestamp)}</td>
                <td>{e.type}</td>
                <td>{describe(e)}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
    </Section>
  );
}

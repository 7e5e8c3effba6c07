import { ACTIONS_IN_STATE, type InstanceView as Instance } from "../../../protocol/instances.js";
import { useEffect, useState } from "preact/hooks";
import { useApp } from "../context.js";
import { bytes, duration, kib, mib, time } from "../format.js";
import { href, navigate, type InstanceTab } from "../router.js";
import { Field, Outcome, Section, StateBadge, useAction, useSubscription, useTick } from "../ui.js";
import { ConsoleTab } from "./console.js";
import { DisksTab, SnapshotsTab } from "./instance-storage.js";
import { EventsTab, KernelTab, NetworkTab } from "./instance-more.js";
import { cpuUse, crashReason, uptimeNow } from "./instances.js";

const ACTION_LABELS = { start: "Start", shutdown: "Shut down", halt: "Halt", reboot: "Reboot", pause: "Pause", resume: "Resume" } as const;
/** How often an open instance page of a running guest reloads it and asks the guest its memory figures. */
const REFRESH_MS = 5000;
const TAB_LABELS: Record<InstanceTab, string> = { overview: "Overview", console: "Console", disks: "Disks", network: "Network", snapshots: "Snapshots", kernel: "Kernel", events: "Events" };

export function InstanceView({ name, tab }: { name: string; tab: InstanceTab }) {
  const { instances } = useApp();
  useSubscription(instances.subscribe);
  const i = instances.items.get(name);
  useEffect(() => {
    if (!instances.items.has(name)) void instances.refresh(name).catch(() => {});
  }, [name]);
  const pid = i?.pid ?? null;
  useEffect(() => {
    if (pid === null) return;
    // uptime, busy and the guest's free memory move without events: this one open page asks again now and then
    const t = setInterval(() => {
      void instances.refresh(name).catch(() => {});
      instances.queueMemory(name);
    }, REFRESH_MS);
    return () => clearInterval(t);
  }, [name, pid]);
  if (!i) {
    return (
      <>
        <h1 tabIndex={-1}>{name}</h1>
        <p>{instances.loaded ? "No such instance (it may have been deleted)." : "Loading…"}</p>
        <p>
          <a href={href("instances")}>Back to the instances</a>
        </p>
      </>
    );
  }
  return (
    <>
      <h1 tabIndex={-1}>
        {i.name} <StateBadge state={i.state} />
      </h1>
      <Summary i={i} />
      <Actions i={i} />
      <nav aria-label="Instance" class="tabs">
        <ul>
          {(Object.keys(TAB_LABELS) as InstanceTab[]).map((t) => (
            <li key={t}>
              <a href={href("instances", i.name, t)} aria-current={t === tab ? "page" : undefined}>
                {TAB_LABELS[t]}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      {tab === "overview" ? <Overview i={i} /> : null}
      {tab === "console" ? <ConsoleTab i={i} /> : null}
      {tab === "disks" ? <DisksTab i={i} /> : null}
      {tab === "network" ? <NetworkTab i={i} /> : null}
      {tab === "snapshots" ? <SnapshotsTab i={i} /> : null}
      {tab === "kernel" ? <KernelTab i={i} /> : null}
      {tab === "events" ? <EventsTab i={i} /> : null}
    </>
  );
}

function Summary({ i }: { i: Instance }) {
  const { instances } = useApp();
  useTick(1000);
  const why = crashReason(i);
  return (
    <dl class="summary">
      <div>
        <dt>Ready</dt>
        <dd data-field="ready">{i.state === "running" ? (i.ready ? "yes" : "not yet") : "—"}</dd>
      </div>
      <div>
        <dt>Uptime</dt>
        <dd>{duration(uptimeNow(i, instances.fetchedAt.get(i.name)))}</dd>
      </div>
      <div>
        <dt>Memory</dt>
        <dd>
          {mib(i.memoryMiB)} of {mib(i.maxMemoryMiB)}
        </dd>
      </div>
      <div>
        <dt>CPU</dt>
        <dd data-field="cpu">{cpuUse(i.pid !== null ? instances.usage.get(i.name) : null)}</dd>
      </div>
      <div>
        <dt>Image</dt>
        <dd>{i.image}</dd>
      </div>
      <div>
        <dt>Kernel</dt>
        <dd>{i.bootedKernel ?? i.kernel}</dd>
      </div>
      <div>
        <dt>Boots</dt>
        <dd data-field="boots">{i.bootCount}</dd>
      </div>
      {i.busy ? (
        <div>
          <dt>Busy</dt>
          <dd>{i.busy}</dd>
        </div>
      ) : null}
      {why ? (
        <div class="wide">
          <dt>Crash reason</dt>
          <dd class="reason">{why}</dd>
        </div>
      ) : i.lastExit ? (
        <div class="wide">
          <dt>Last exit</dt>
          <dd>
            {i.lastExit.reason} ({time(i.lastExit.at)})
          </dd>
        </div>
      ) : null}
      {i.flag ? (
        <div class="wide">
          <dt>Flag</dt>
          <dd class="reason">{i.flag}</dd>
        </div>
      ) : null}
      {i.problems.length ? (
        <div class="wide">
          <dt>Problems</dt>
          <dd class="reason">{i.problems.join("; ")}</dd>
        </div>
      ) : null}
    </dl>
  );
}

/** The lifecycle buttons valid in this state and allowed to this token, and Delete. */
function Actions({ i }: { i: Instance }) {
  const { session, instances } = useApp();
  const act = useAction();
  const actions = ACTIONS_IN_STATE[i.state].filter((a) => session.can("power", a));
  const canDelete = session.can("delete") && (i.state === "stopped" || i.state === "crashed");
  const run = (action: keyof typeof ACTION_LABELS) =>
    act.run(async () => {
      await session.client.call("changeState", { params: { name: i.name }, body: { action } });
      await instances.refresh(i.name);
      return `${ACTION_LABELS[action]}: done.`;
    });
  const remove = () =>
    act.run(async () => {
      if (!confirm(`Delete ${i.name} and its disk? This cannot be undone.`)) return;
      await session.client.call("deleteInstance", { params: { name: i.name } });
      navigate("instances");
    });
  if (!actions.length && !canDelete) return null;
  return (
    <fieldset class="actions">
      <legend class="sr-only">Actions</legend>
      {actions.map((a) => (
        <button type="button" key={a} disabled={act.busy || i.busy !== null} onClick={() => run(a)}>
          {ACTION_LABELS[a]}
        </button>
      ))}
      {canDelete ? (
        <button type="button" class="danger" disabled={act.busy} onClick={remove}>
          Delete
        </button>
      ) : null}
      <Outcome action={act} />
    </fieldset>
  );
}

function Overview({ i }: { i: Instance }) {
  return (
    <>
      <MemorySection i={i} />
      <Section title="Details">
        <dl class="details">
          <dt>Id (umid)</dt>
          <dd>{i.id}</dd>
          <dt>Created</dt>
          <dd>{time(i.createdAt)}</dd>
          <dt>Boot options</dt>
          <dd>{i.bootOptions.join(" ") || "—"}</dd>
          <dt>Disk use</dt>
          <dd>
            {bytes(i.diskUsage.allocatedBytes)} on the host, up to {bytes(i.diskUsage.virtualBytes)}
            {i.diskUsage.quotaBytes !== null ? `, quota ${bytes(i.diskUsage.quotaBytes)}` : ""}
            {i.diskUsage.exceeded ? " (over quota)" : ""}
          </dd>
          <dt>Restart policy</dt>
          <dd>
            {i.policy.restartPolicy}
            {i.policy.autostart ? ", autostart" : ""}
          </dd>
        </dl>
      </Section>
    </>
  );
}

/** The live memory control, with the guest's own view of its memory and what the host backs. */
function MemorySection({ i }: { i: Instance }) {
  const { session, instances } = useApp();
  const m = instances.memory.get(i.name);
  const [target, setTarget] = useState(String(i.memoryMiB));
  const [boot, setBoot] = useState(String(i.maxMemoryMiB));
  const act = useAction();
  useEffect(() => setTarget(String(i.memoryMiB)), [i.memoryMiB]);
  useEffect(() => setBoot(String(i.maxMemoryMiB)), [i.maxMemoryMiB]);
  useEffect(() => {
    if (i.pid !== null) instances.queueMemory(i.name);
  }, [i.name, i.pid]);
  const running = i.pid !== null;
  const canConfigure = session.can("configure");
  const apply = (e: Event) => {
    e.preventDefault();
    void act.run(async () => {
      const r = await session.client.call("patchInstance", { params: { name: i.name }, body: running ? { memoryMiB: Number(target) } : { maxMemoryMiB: Number(boot), memoryMiB: Number(boot) } });
      await instances.refresh(i.name);
      if (running) instances.queueMemory(i.name);
      const mem = r.memory;
      if (!mem) return "Saved for the next start.";
      return `The guest has ${mib(mem.memoryMiB)} now${mem.limitedBy ? ` (limited by the ${mem.limitedBy})` : ""}.`;
    });
  };
  return (
    <Section title="Memory">
      <dl class="details">
        <dt>Target</dt>
        <dd data-field="memory-target">{mib(i.memoryMiB)}</dd>
        <dt>Boot size</dt>
        <dd>{mib(i.maxMemoryMiB)}</dd>
        <dt>Unplugged</dt>
        <dd>{mib(i.unpluggedMiB)}</dd>
        <dt>Guest's view</dt>
        <dd data-field="guest-memory">{running && m && m.guestMemTotalKiB !== null ? `${kib(m.guestMemTotalKiB)} total, ${kib(m.guestMemFreeKiB)} free` : "—"}</dd>
        <dt>Backed on the host</dt>
        <dd>{running && m ? bytes(m.hostAllocatedBytes) : "—"}</dd>
      </dl>
      {canConfigure ? (
        <form class="inline" onSubmit={apply}>
          {running ? (
            <Field label="Memory target (MiB)" hint={`32 to ${i.maxMemoryMiB}, live`}>
              <input type="number" min={32} max={i.maxMemoryMiB} step={1} required value={target} onInput={(e) => setTarget(e.currentTarget.value)} />
            </Field>
          ) : (
            <Field label="Memory at next start (MiB)" hint="32 to 65536">
              <input type="number" min={32} max={65536} step={1} required value={boot} onInput={(e) => setBoot(e.currentTarget.value)} />
            </Field>
          )}
          <button type="submit" disabled={act.busy}>
            Apply memory
          </button>
          {running ? (
            <button type="button" onClick={() => instances.queueMemory(i.name)}>
              Refresh memory
            </button>
          ) : null}
          <Outcome action={act} />
        </form>
      ) : null}
    </Section>
  );
}

import { useState } from "preact/hooks";
import type { InstanceView as Instance } from "../../../protocol/instances.js";
import { useApp } from "../context.js";
import { bytes, time } from "../format.js";
import { navigate } from "../router.js";
import { ActionCell, ErrorText, Field, NAME_PATTERN, Outcome, Section, Table, useAction, useLoad } from "../ui.js";

export function DisksTab({ i }: { i: Instance }) {
  const { session, instances } = useApp();
  const canConfigure = session.can("configure");
  const disks = useLoad(() => session.client.call("listDisks"), [i.attachments.length]);
  const act = useAction();
  const [size, setSize] = useState("64");
  const [existing, setExisting] = useState("");
  const free = (disks.data?.disks ?? []).filter((d) => d.role === "data" && d.attachments.length === 0);
  const attach = (body: { sizeMiB: number } | { disk: string }) =>
    act.run(async () => {
      const a = await session.client.call("attachDisk", { params: { name: i.name }, body });
      await instances.refresh(i.name);
      disks.reload();
      return `Attached ${a.disk} as ${a.slot}${a.live ? " (live)" : ""}.`;
    });
  const detach = (slot: string) =>
    act.run(async () => {
      const r = await session.client.call("detachDisk", { params: { name: i.name, slot } });
      await instances.refresh(i.name);
      disks.reload();
      return `Detached ${r.disk} from ${r.detached}.`;
    });
  return (
    <>
      <Section title="Writable disks">
        <Table caption="Writable disks">
          <thead>
            <tr>
              <th scope="col">Slot</th>
              <th scope="col">Kind</th>
              <th scope="col">Size</th>
              <th scope="col">Used on the host</th>
              <th scope="col">Backing</th>
            </tr>
          </thead>
          <tbody>
            {i.disks.map((d) => (
              <tr key={d.slot}>
                <th scope="row">{d.slot}</th>
                <td>{d.kind}</td>
                <td>{bytes(d.sizeBytes)}</td>
                <td>{bytes(d.allocatedBytes)}</td>
                <td>{d.backingPath ? d.backingPath.slice(d.backingPath.lastIndexOf("/") + 1) : "—"}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      </Section>
      <Section title="Data disks">
        {i.attachments.length === 0 ? (
          <p>No data disk attached.</p>
        ) : (
          <Table caption="Attached data disks">
            <thead>
              <tr>
                <th scope="col">Slot</th>
                <th scope="col">Disk</th>
                <th scope="col">Read-only</th>
                {canConfigure ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {i.attachments.map((a) => (
                <tr key={a.slot}>
                  <th scope="row">{a.slot}</th>
                  <td>{a.disk}</td>
                  <td>{a.readOnly ? "yes" : "no"}</td>
                  {canConfigure ? (
                    <ActionCell label={`Detach ${a.disk} from ${a.slot}`} disabled={act.busy} onClick={() => detach(a.slot)}>
                      Detach
                    </ActionCell>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </Table>
        )}
        {canConfigure ? (
          <>
            <form
              class="inline"
              onSubmit={(e) => {
                e.preventDefault();
                void attach({ sizeMiB: Number(size) });
              }}
            >
              <Field label="New disk size (MiB)">
                <input type="number" min={1} max={1048576} required value={size} onInput={(e) => setSize(e.currentTarget.value)} />
              </Field>
              <button type="submit" disabled={act.busy}>
                Attach a new disk
              </button>
            </form>
            {free.length ? (
              <form
                class="inline"
                onSubmit={(e) => {
                  e.preventDefault();
                  if (existing) void attach({ disk: existing });
                }}
              >
                <Field label="Existing disk">
                  <select value={existing} onChange={(e) => setExisting(e.currentTarget.value)} required>
                    <option value="">Choose a disk</option>
                    {free.map((d) => (
                      <option key={d.name} value={d.name}>
                        {d.name} ({bytes(d.sizeBytes)})
                      </option>
                    ))}
                  </select>
                </Field>
                <button type="submit" disabled={act.busy}>
                  Attach this disk
                </button>
              </form>
            ) : null}
            <Outcome action={act} />
          </>
        ) : null}
        <ErrorText error={disks.error} />
      </Section>
    </>
  );
}

export function SnapshotsTab({ i }: { i: Instance }) {
  const { session, instances } = useApp();
  const snaps = useLoad(() => session.client.call("listSnapshots", { params: { name: i.name } }), [i.name]);
  const act = useAction();
  const [name, setName] = useState("");
  const [cloneName, setCloneName] = useState("");
  const canSnap = session.can("snapshot");
  const canClone = session.can("create");
  const stopped = i.state === "stopped" || i.state === "crashed";
  const create = (e: Event) => {
    e.preventDefault();
    void act.run(async () => {
      const r = await session.client.call("createSnapshot", { params: { name: i.name }, body: { name } });
      setName("");
      snaps.reload();
      return `Snapshot ${r.result?.name ?? name} taken.`;
    });
  };
  const restore = (snapshot: string) =>
    act.run(async () => {
      if (!confirm(`Put ${i.name} back on snapshot ${snapshot}? Changes since are lost.`)) return;
      await session.client.call("restoreSnapshot", { params: { name: i.name, snapshot } });
      await instances.refresh(i.name);
      return `Restored to ${snapshot}.`;
    });
  const clone = (snapshot: string | undefined) =>
    act.run(async () => {
      if (!cloneName) throw new Error("Give the clone a name first (New instance name).");
      const r = await session.client.call("cloneInstance", { params: { name: i.name }, body: { name: cloneName, ...(snapshot ? { snapshot } : {}) } });
      const made = r.result?.name ?? cloneName;
      await instances.refresh(made);
      navigate("instances", made);
    });
  const remove = (snapshot: string) =>
    act.run(async () => {
      await session.client.call("deleteSnapshot", { params: { name: i.name, snapshot } });
      snaps.reload();
      return `Snapshot ${snapshot} deleted.`;
    });
  return (
    <Section title="Snapshots">
      <ErrorText error={snaps.error} />
      {snaps.data && snaps.data.snapshots.length === 0 ? <p>No snapshots.</p> : null}
      {snaps.data?.snapshots.length ? (
        <Table caption="Snapshots">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Taken</th>
              <th scope="col">Size</th>
              <th scope="col">Used by</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {snaps.data.snapshots.map((s) => (
              <tr key={s.name}>
                <th scope="row">{s.name}</th>
                <td>{time(s.createdAt)}</td>
                <td>{bytes(s.allocatedBytes)}</td>
                <td>{s.dependants.join(", ") || "—"}</td>
                <td class="buttons">
                  {canSnap ? (
                    <button type="button" disabled={act.busy || !stopped} title={stopped ? undefined : "Stop the instance first"} onClick={() => restore(s.name)} aria-label={`Restore ${s.name}`}>
                      Restore
                    </button>
                  ) : null}
                  {canClone ? (
                    <button type="button" disabled={act.busy} onClick={() => clone(s.name)} aria-label={`Clone ${s.name}`}>
                      Clone
                    </button>
                  ) : null}
                  {canSnap ? (
                    <button type="button" disabled={act.busy || s.dependants.length > 0} onClick={() => remove(s.name)} aria-label={`Delete snapshot ${s.name}`}>
                      Delete
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : null}
      {canSnap ? (
        <form class="inline" onSubmit={create}>
          <Field label="Snapshot name">
            <input required pattern={NAME_PATTERN} maxLength={63} value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </Field>
          <button type="submit" disabled={act.busy}>
            Take a snapshot
          </button>
        </form>
      ) : null}
      {canClone ? (
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            void clone(undefined);
          }}
        >
          <Field label="New instance name" hint="for Clone (from a snapshot above, or a full copy of the disk now)">
            <input required pattern={NAME_PATTERN} maxLength={63} value={cloneName} onInput={(e) => setCloneName(e.currentTarget.value)} />
          </Field>
          <button type="submit" disabled={act.busy}>
            Clone the current disk
          </button>
        </form>
      ) : null}
      <Outcome action={act} />
    </Section>
  );
}

import { useState } from "preact/hooks";
import { useApp } from "../context.js";
import { ActionCell, ErrorText, Field, NAME_PATTERN, Outcome, Table, useAction, useLoad } from "../ui.js";

export function NetworksView() {
  const { session } = useApp();
  const nets = useLoad(() => session.client.call("listNetworks"), []);
  const act = useAction();
  const [name, setName] = useState("");
  const [kind, setKind] = useState<"switch" | "user" | "host">("switch");
  const [subnet, setSubnet] = useState("10.77.0.0/24");
  const [nat, setNat] = useState(false);
  const canNet = session.can("network");
  const create = (e: { preventDefault(): void }) => {
    e.preventDefault();
    void act.run(async () => {
      const n = await session.client.call("createNetwork", { body: { name, kind, ...(kind === "user" ? {} : { subnet }), ...(kind === "host" ? { nat } : {}) } });
      nets.reload();
      setName("");
      return `Network ${n.name} created (${n.subnet}).`;
    });
  };
  const remove = (n: string) =>
    act.run(async () => {
      if (!confirm(`Delete network ${n}?`)) return;
      await session.client.call("deleteNetwork", { params: { name: n } });
      nets.reload();
      return `Network ${n} deleted.`;
    });
  return (
    <>
      <h1 tabIndex={-1}>Networks</h1>
      <ErrorText error={nets.error} />
      {nets.data && nets.data.networks.length === 0 ? <p>No networks yet.</p> : null}
      {nets.data?.networks.length ? (
        <Table caption="Networks">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Subnet</th>
              <th scope="col">Gateway</th>
              <th scope="col">NICs</th>
              {canNet ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {nets.data.networks.map((n) => (
              <tr key={n.name}>
                <th scope="row">{n.name}</th>
                <td>
                  {n.kind}
                  {n.nat ? ", NAT" : ""}
                  {n.hostAccess ? ", host access" : ""}
                </td>
                <td>{n.subnet}</td>
                <td>{n.gateway ?? "—"}</td>
                <td>{n.nics.map((x) => `${x.instance} ${x.slot} ${x.ip}`).join(", ") || "—"}</td>
                {canNet ? (
                  <ActionCell label={`Delete network ${n.name}`} disabled={act.busy || n.nics.length > 0} onClick={() => remove(n.name)}>
                    Delete
                  </ActionCell>
                ) : null}
              </tr>
            ))}
          </tbody>
        </Table>
      ) : null}
      {canNet ? (
        <form class="stack" onSubmit={create}>
          <h2>New network</h2>
          <Field label="Network name">
            <input required pattern={NAME_PATTERN} value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </Field>
          <Field label="Kind" hint="switch: between guests; user: NAT out through slirp; host: bridged on the host (admins)">
            <select value={kind} onChange={(e) => setKind(e.currentTarget.value as typeof kind)}>
              <option value="switch">switch</option>
              <option value="user">user</option>
              {session.admin ? <option value="host">host</option> : null}
            </select>
          </Field>
          {kind !== "user" ? (
            <Field label="Subnet">
              <input required value={subnet} onInput={(e) => setSubnet(e.currentTarget.value)} />
            </Field>
          ) : null}
          {kind === "host" ? (
            <label class="check">
              <input type="checkbox" checked={nat} onChange={(e) => setNat(e.currentTarget.checked)} />
              NAT to the host's other interfaces
            </label>
          ) : null}
          <button type="submit" disabled={act.busy}>
            Create network
          </button>
        </form>
      ) : null}
      <Outcome action={act} />
    </>
  );
}

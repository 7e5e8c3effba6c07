import { useState } from "preact/hooks";
import { PERMISSIONS, type Permission } from "../../../protocol/tenants.js";
import { useApp } from "../context.js";
import { mib, time } from "../format.js";
import { ErrorText, Field, NAME_PATTERN, Outcome, Section, Table, useAction, useLoad } from "../ui.js";

const quota = (n: number | null, fmt: (n: number) => string = String) => (n === null ? "—" : fmt(n));

/** Admins: tenants with their quotas and usage; a tenant's tokens, a new token's secret shown once. */
export function TenantsView() {
  const { session } = useApp();
  if (session.admin) return <AdminTenants />;
  return (
    <>
      <h1 tabIndex={-1}>Tenants</h1>
      <p>Tenants are for admins.</p>
    </>
  );
}

function AdminTenants() {
  const { session } = useApp();
  const tenants = useLoad(() => session.client.call("listTenants"), []);
  const act = useAction();
  const [name, setName] = useState("");
  const [maxInstances, setMaxInstances] = useState("");
  const [maxMemory, setMaxMemory] = useState("");
  const [selected, setSelected] = useState<string | null>(null);
  const create = (e: { preventDefault(): void }) => {
    e.preventDefault();
    void act.run(async () => {
      const quotas = { ...(maxInstances ? { maxInstances: Number(maxInstances) } : {}), ...(maxMemory ? { maxMemoryMiB: Number(maxMemory) } : {}) };
      await session.client.call("createTenant", { body: { name, quotas } });
      tenants.reload();
      setSelected(name);
      setName("");
      return `Tenant ${name} created.`;
    });
  };
  const remove = (t: string) =>
    act.run(async () => {
      if (!confirm(`Delete tenant ${t}? Its tokens stop working.`)) return;
      await session.client.call("deleteTenant", { params: { tenant: t } });
      if (selected === t) setSelected(null);
      tenants.reload();
      return `Tenant ${t} deleted.`;
    });
  return (
    <>
      <h1 tabIndex={-1}>Tenants</h1>
      <ErrorText error={tenants.error} />
      {tenants.data && tenants.data.tenants.length === 0 ? <p>No tenants yet.</p> : null}
      {tenants.data?.tenants.length ? (
        <Table caption="Tenants">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Instances</th>
              <th scope="col">Memory</th>
              <th scope="col">Disk</th>
              <th scope="col">Snapshots</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {tenants.data.tenants.map((t) => (
              <tr key={t.name}>
                <th scope="row">{t.name}</th>
                <td>
                  {t.usage.instances} / {quota(t.quotas.maxInstances)}
                </td>
                <td>
                  {mib(t.usage.memoryMiB)} / {quota(t.quotas.maxMemoryMiB, mib)}
                </td>
                <td>
                  {mib(t.usage.diskMiB)} / {quota(t.quotas.maxDiskMiB, mib)}
                </td>
                <td>
                  {t.usage.snapshots} / {quota(t.quotas.maxSnapshots)}
                </td>
                <td class="buttons">
                  <button type="button" onClick={() => setSelected(t.name)} aria-label={`Tokens of ${t.name}`} aria-pressed={selected === t.name}>
                    Tokens
                  </button>
                  <button type="button" class="danger" disabled={act.busy} onClick={() => remove(t.name)} aria-label={`Delete tenant ${t.name}`}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : null}
      <form class="stack" onSubmit={create}>
        <h2>New tenant</h2>
        <Field label="Tenant name">
          <input required pattern={NAME_PATTERN} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field label="Most instances" hint="empty: no quota">
          <input type="number" min={0} value={maxInstances} onInput={(e) => setMaxInstances(e.currentTarget.value)} />
        </Field>
        <Field label="Most memory (MiB)" hint="empty: no quota">
          <input type="number" min={0} value={maxMemory} onInput={(e) => setMaxMemory(e.currentTarget.value)} />
        </Field>
        <button type="submit" disabled={act.busy}>
          Create tenant
        </button>
      </form>
      <Outcome action={act} />
      {selected ? <Tokens key={selected} tenant={selected} /> : null}
    </>
  );
}

function Tokens({ tenant }: { tenant: string }) {
  const { session } = useApp();
  const tokens = useLoad(() => session.client.call("listTokens", { params: { tenant } }), [tenant]);
  const act = useAction();
  const [name, setName] = useState("");
  const [actions, setActions] = useState<Set<Permission>>(new Set(PERMISSIONS));
  const [days, setDays] = useState("");
  const [secret, setSecret] = useState<string | null>(null);
  const toggle = (p: Permission) => setActions((old) => (old.has(p) ? new Set([...old].filter((x) => x !== p)) : new Set([...old, p])));
  const create = (e: { preventDefault(): void }) => {
    e.preventDefault();
    setSecret(null);
    void act.run(async () => {
      const t = await session.client.call("createToken", {
        params: { tenant },
        body: { name, actions: PERMISSIONS.filter((p) => actions.has(p)), ...(days ? { expiresInS: Math.round(Number(days) * 86400) } : {}) },
      });
      setSecret(t.token);
      setName("");
      tokens.reload();
      return `Token ${t.name} created.`;
    });
  };
  const revoke = (id: string, n: string) =>
    act.run(async () => {
      if (!confirm(`Revoke token ${n}? Its sessions end at once.`)) return;
      await session.client.call("revokeToken", { params: { tenant, token: id } });
      tokens.reload();
      return `Token ${n} revoked.`;
    });
  return (
    <Section title={`Tokens of ${tenant}`} id="tokens">
      <ErrorText error={tokens.error} />
      {tokens.data?.tokens.length ? (
        <Table caption={`Tokens of ${tenant}`}>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Id</th>
              <th scope="col">Permissions</th>
              <th scope="col">Expires</th>
              <th scope="col">Last used</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {tokens.data.tokens.map((t) => (
              <tr key={t.id}>
                <th scope="row">{t.name}</th>
                <td>{t.id}</td>
                <td>{t.actions.join(", ")}</td>
                <td>{time(t.expiresAt)}</td>
                <td>{time(t.lastUsedAt)}</td>
                <td>
                  {t.revokedAt ? (
                    `revoked ${time(t.revokedAt)}`
                  ) : (
                    <button type="button" class="danger" disabled={act.busy} onClick={() => revoke(t.id, t.name)} aria-label={`Revoke token ${t.name}`}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : tokens.data ? (
        <p>No tokens.</p>
      ) : null}
      <form class="stack" onSubmit={create}>
        <h3>New token</h3>
        <Field label="Token name">
          <input required pattern={NAME_PATTERN} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <fieldset>
          <legend>Permissions</legend>
          {PERMISSIONS.map((p) => (
            <label class="check" key={p}>
              <input type="checkbox" checked={actions.has(p)} onChange={() => toggle(p)} />
              {p}
            </label>
          ))}
        </fieldset>
        <Field label="Expires in (days)" hint="empty: never">
          <input type="number" min={0.01} step="any" value={days} onInput={(e) => setDays(e.currentTarget.value)} />
        </Field>
        <button type="submit" disabled={act.busy || actions.size === 0}>
          Create token
        </button>
      </form>
      <Outcome action={act} />
      {secret ? (
        <div class="secret" role="status">
          <Field label="New token (shown once)" hint="Copy it now: umld keeps only its hash and cannot show it again.">
            <input readOnly value={secret} onFocus={(e) => e.currentTarget.select()} data-secret="" />
          </Field>
        </div>
      ) : null}
    </Section>
  );
}

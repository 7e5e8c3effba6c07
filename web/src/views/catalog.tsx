import { useState } from "preact/hooks";
import { useApp } from "../context.js";
import { bytes, time } from "../format.js";
import { ActionCell, ErrorText, Field, NAME_PATTERN, Outcome, Section, Table, useAction, useLoad } from "../ui.js";

/** Images and kernels: what instances are made from and boot. */
export function CatalogView() {
  const { session } = useApp();
  const images = useLoad(() => session.client.call("listImages"), []);
  const kernels = useLoad(() => session.client.call("listKernels"), []);
  const act = useAction();
  const [buildName, setBuildName] = useState("");
  const canDelete = session.can("delete");
  const mayDelete = (owner: string | null) => canDelete && (session.admin || owner !== null);
  const removeImage = (name: string) =>
    act.run(async () => {
      if (!confirm(`Delete image ${name}?`)) return;
      await session.client.call("deleteImage", { params: { name } });
      images.reload();
      return `Image ${name} deleted.`;
    });
  const removeKernel = (name: string) =>
    act.run(async () => {
      if (!confirm(`Delete kernel ${name}?`)) return;
      await session.client.call("deleteKernel", { params: { name } });
      kernels.reload();
      return `Kernel ${name} deleted.`;
    });
  const build = (e: { preventDefault(): void }) => {
    e.preventDefault();
    void act.run(async () => {
      const r = await session.client.call("buildImage", { body: { name: buildName, recipe: "busybox" } });
      images.reload();
      return `Image ${r.image?.name ?? buildName} built.`;
    });
  };
  return (
    <>
      <h1 tabIndex={-1}>Images and kernels</h1>
      <Section title="Images">
        <ErrorText error={images.error} />
        {images.data ? (
          <Table caption="Images">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Size</th>
                <th scope="col">On disk</th>
                <th scope="col">Owner</th>
                <th scope="col">Readiness</th>
                <th scope="col">Used by</th>
                <th scope="col">Created</th>
                {canDelete ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {images.data.images.map((i) => (
                <tr key={i.name}>
                  <th scope="row">{i.name}</th>
                  <td>{i.kind}</td>
                  <td>{bytes(i.sizeBytes)}</td>
                  <td>{bytes(i.allocatedBytes)}</td>
                  <td>{i.owner ?? (i.shared ? "shared" : "admin")}</td>
                  <td>{i.readiness}</td>
                  <td>{i.dependants.length}</td>
                  <td>{time(i.createdAt)}</td>
                  {canDelete ? (
                    <td>
                      {mayDelete(i.owner) ? (
                        <button type="button" disabled={act.busy || i.dependants.length > 0} onClick={() => removeImage(i.name)} aria-label={`Delete image ${i.name}`}>
                          Delete
                        </button>
                      ) : null}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </Table>
        ) : null}
        {session.admin ? (
          <form class="inline" onSubmit={build}>
            <Field label="New busybox image name">
              <input required pattern={NAME_PATTERN} value={buildName} onInput={(e) => setBuildName(e.currentTarget.value)} />
            </Field>
            <button type="submit" disabled={act.busy}>
              Build image
            </button>
          </form>
        ) : null}
      </Section>
      <Section title="Kernels">
        <ErrorText error={kernels.error} />
        {kernels.data ? (
          <Table caption="Kernels">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Version</th>
                <th scope="col">Default</th>
                <th scope="col">Size</th>
                <th scope="col">Added</th>
                {session.admin ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {kernels.data.kernels.map((k) => (
                <tr key={k.name}>
                  <th scope="row">{k.name}</th>
                  <td>{k.version}</td>
                  <td>{k.isDefault ? "yes" : "no"}</td>
                  <td>{bytes(k.sizeBytes)}</td>
                  <td>{time(k.createdAt)}</td>
                  {session.admin ? (
                    <ActionCell label={`Delete kernel ${k.name}`} disabled={act.busy || k.isDefault} onClick={() => removeKernel(k.name)}>
                      Delete
                    </ActionCell>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </Table>
        ) : null}
      </Section>
      <Outcome action={act} />
    </>
  );
}

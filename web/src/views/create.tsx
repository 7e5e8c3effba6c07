import { useState } from "preact/hooks";
import { useApp } from "../context.js";
import { navigate } from "../router.js";
import { ErrorText, Field, NAME_PATTERN, Outcome, useAction, useLoad } from "../ui.js";

export function CreateView() {
  const { session, instances } = useApp();
  const catalog = useLoad(async () => {
    const [images, kernels, networks] = await Promise.all([session.client.call("listImages"), session.client.call("listKernels"), session.client.call("listNetworks")]);
    return { images: images.images, kernels: kernels.kernels, networks: networks.networks };
  }, []);
  const [name, setName] = useState("");
  const [memory, setMemory] = useState("64");
  const [image, setImage] = useState("");
  const [kernel, setKernel] = useState("");
  const [network, setNetwork] = useState("");
  const [start, setStart] = useState(true);
  const act = useAction();
  const canNet = session.can("network");
  const canStart = session.can("power", "start");
  if (!session.can("create")) return <p>This token may not create instances.</p>;
  const submit = (e: { preventDefault(): void }) => {
    e.preventDefault();
    void act.run(async () => {
      const made = await session.client.call("createInstance", {
        body: { name, memoryMiB: Number(memory), ...(image ? { image } : {}), ...(kernel ? { kernel } : {}) },
      });
      if (network) await session.client.call("attachNic", { params: { name: made.name }, body: { network } });
      if (start && canStart) await session.client.call("changeState", { params: { name: made.name }, body: { action: "start", wait: false } });
      await instances.refresh(made.name);
      navigate("instances", made.name);
    });
  };
  return (
    <>
      <h1 tabIndex={-1}>Create an instance</h1>
      <ErrorText error={catalog.error} />
      <form class="stack" onSubmit={submit}>
        <Field label="Name" hint="lowercase letters, digits and inner hyphens; also the guest's hostname">
          <input required pattern={NAME_PATTERN} maxLength={63} autocomplete="off" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field label="Memory (MiB)" hint="32 to 65536">
          <input type="number" min={32} max={65536} required value={memory} onInput={(e) => setMemory(e.currentTarget.value)} />
        </Field>
        <Field label="Image">
          <select value={image} onChange={(e) => setImage(e.currentTarget.value)}>
            <option value="">The default image</option>
            {(catalog.data?.images ?? []).map((i) => (
              <option key={i.name} value={i.name}>
                {i.name} ({i.kind})
              </option>
            ))}
          </select>
        </Field>
        <Field label="Kernel">
          <select value={kernel} onChange={(e) => setKernel(e.currentTarget.value)}>
            <option value="">The default kernel</option>
            {(catalog.data?.kernels ?? []).map((k) => (
              <option key={k.name} value={k.name}>
                {k.name} ({k.version}){k.isDefault ? ", default" : ""}
              </option>
            ))}
          </select>
        </Field>
        {canNet ? (
          <Field label="Network">
            <select value={network} onChange={(e) => setNetwork(e.currentTarget.value)}>
              <option value="">None</option>
              {(catalog.data?.networks ?? []).map((n) => (
                <option key={n.name} value={n.name}>
                  {n.name} ({n.kind}, {n.subnet})
                </option>
              ))}
            </select>
          </Field>
        ) : null}
        {canStart ? (
          <label class="check">
            <input type="checkbox" checked={start} onChange={(e) => setStart(e.currentTarget.checked)} />
            Start it now
          </label>
        ) : null}
        <button type="submit" disabled={act.busy}>
          Create
        </button>
        <Outcome action={act} />
      </form>
    </>
  );
}

import type { BodyIn, ResponseOf } from "../../protocol/contract.js";
import { ImageRecipe } from "../../protocol/images.js";
import type { Ctx } from "../context.js";
import { bytes, col } from "../output.js";
import { withProgress } from "../progress.js";
import type { CommandSpec } from "./command.js";

type DiskRow = ResponseOf<"listDisks">["disks"][number];
type ImageRow = ResponseOf<"listImages">["images"][number];
type SnapshotRow = ResponseOf<"listSnapshots">["snapshots"][number];

/** An operation run with a progress bar; its failure is umlctl's (exit 1). */
async function operation<T extends { operation: { id: string } }>(x: Ctx, label: string, start: () => Promise<T>) {
  const r = await withProgress(x.c, start, label);
  if (r.error) x.fail(`${r.error.code}: ${r.error.message}`, 1);
  return r;
}

export const storageCommands: CommandSpec[] = [
  {
    name: "disk",
    subs: ["ls", "attach", "detach", "merge"],
    help: [
      "disk ls",
      "disk attach NAME DISK [--size MIB | --image IMG] [--ro]   attach (creating the disk if --size/--image)",
      "disk detach NAME SLOT               e.g. ubdb",
      "disk merge NAME IMAGE [--no-switch] flatten the root disk into a standalone image",
    ],
    flags: ["size", "image", "ro", "no-switch"],
    completes: "instance",
    lists: true,
    async run(x) {
      const [sub] = x.args;
      if (sub === "ls") {
        const r = await x.c.call("listDisks");
        return x.list(
          r,
          r.disks,
          [
            col<DiskRow>("name", (d) => d.name),
            col<DiskRow>("kind", (d) => d.kind),
            col<DiskRow>(
              "size",
              (d) => d.sizeBytes,
              (d) => `${Math.round(d.sizeBytes / 1048576)}M`,
            ),
            col<DiskRow>("attachments", (d) => d.attachments.map((a) => `${a.instance}:${a.slot}${a.readOnly ? "(ro)" : ""}`).join(",") || null),
          ],
          "no disks",
        );
      }
      const inst = x.arg(1, `disk ${sub ?? "ls | attach | detach | merge"} NAME ...`);
      if (sub === "attach") {
        const body: BodyIn<"attachDisk"> = { disk: x.arg(2, "disk attach NAME DISK"), readOnly: Boolean(x.v.ro) };
        if (x.v.size) body.sizeMiB = Number(x.v.size);
        if (x.v.image) body.image = x.v.image;
        const r = await x.c.call("attachDisk", { params: { name: inst }, body });
        return x.out(r, `${r.disk} attached to ${inst} as /dev/${r.slot}${r.readOnly ? " (read-only)" : ""}${r.live ? " (live)" : ""}`);
      }
      if (sub === "merge") {
        const image = x.arg(2, "disk merge NAME IMAGE");
        const r = await operation(x, `merging ${inst}`, () => x.c.call("mergeDisk", { params: { name: inst }, body: { image, switch: !x.v["no-switch"], wait: false } }));
        return x.out(r, `${inst}: merged into image ${image}${x.v["no-switch"] ? "" : " (now on a fresh COW over it)"}`);
      }
      if (sub === "detach") {
        const r = await x.c.call("detachDisk", { params: { name: inst, slot: x.arg(2, "disk detach NAME SLOT") } });
        return x.out(r, `${r.disk} detached from ${inst} (${r.detached})`);
      }
      x.fail("disk ls | attach | detach | merge");
    },
  },
  {
    name: "image",
    subs: ["ls", "import", "build", "verify", "rm"],
    help: [
      "image ls | import NAME (--tar P | --dir P | --raw P) [--size MIB] [--notify] | rm NAME | verify NAME",
      "image build NAME --recipe busybox|debian [--size MIB]   (debian: debootstrap, minutes)",
    ],
    flags: ["tar", "dir", "raw", "size", "notify", "recipe"],
    completes: "image",
    lists: true,
    async run(x) {
      const [sub] = x.args;
      if (sub === "ls") {
        const r = await x.c.call("listImages");
        return x.list(
          r,
          r.images,
          [
            col<ImageRow>("name", (i) => i.name),
            col<ImageRow>("kind", (i) => i.kind),
            col<ImageRow>(
              "size",
              (i) => i.sizeBytes,
              (i) => `${Math.round(i.sizeBytes / 1048576)}M`,
            ),
            col<ImageRow>(
              "used",
              (i) => i.allocatedBytes,
              (i) => bytes(i.allocatedBytes),
            ),
            col<ImageRow>("dependants", (i) => i.dependants.length),
            col<ImageRow>("owner", (i) => i.owner),
          ],
          "no images",
        );
      }
      const name = x.arg(1, `image ${sub ?? "ls | import | build | verify | rm"} NAME`);
      if (sub === "import") {
        const type = x.v.tar ? "tar" : x.v.dir ? "dir" : x.v.raw ? "raw" : x.fail("image import NAME --tar P | --dir P | --raw P");
        const body: BodyIn<"importImage"> = { name, source: { type, path: (x.v.tar ?? x.v.dir ?? x.v.raw)! }, wait: false };
        if (x.v.size) body.sizeMiB = Number(x.v.size);
        if (x.v.notify) body.readiness = "notify";
        return x.out(await operation(x, `importing ${name}`, () => x.c.call("importImage", { body })), `imported ${name}`);
      }
      if (sub === "build") {
        const recipe = x.field(ImageRecipe, x.v.recipe ?? x.fail("image build needs --recipe busybox|debian"), "body.recipe");
        const body: BodyIn<"buildImage"> = { name, recipe, wait: false };
        if (x.v.size) body.sizeMiB = Number(x.v.size);
        return x.out(await operation(x, `building ${name}`, () => x.c.call("buildImage", { body })), `built ${name}`);
      }
      if (sub === "verify") {
        const v = await x.c.call("verifyImage", { params: { name } });
        return x.out(
          v,
          `${name}: ${v.ok ? "ok" : "NOT OK"} (sha256 ${v.actualSha256 === v.expectedSha256 ? "matches" : "differs"}; ${v.layers.filter((l) => !l.ok).length} of ${v.layers.length} layers invalid)`,
        );
      }
      if (sub === "rm") return x.out(await x.c.call("deleteImage", { params: { name } }), `deleted ${name}`);
      x.fail("image ls | import | build | verify | rm");
    },
  },
  {
    name: "snapshot",
    subs: ["ls", "create", "restore", "rm"],
    help: ["snapshot ls NAME | create NAME SNAP | restore NAME SNAP | rm NAME SNAP"],
    completes: "instance",
    lists: true,
    async run(x) {
      const [sub] = x.args;
      const inst = x.arg(1, `snapshot ${sub ?? "ls | create | restore | rm"} NAME`);
      if (sub === "ls") {
        const r = await x.c.call("listSnapshots", { params: { name: inst } });
        return x.list(
          r,
          r.snapshots,
          [
            col<SnapshotRow>("name", (s) => s.name),
            col<SnapshotRow>("createdAt", (s) => s.createdAt, undefined, "created"),
            col<SnapshotRow>(
              "allocated",
              (s) => s.allocatedBytes,
              (s) => bytes(s.allocatedBytes),
            ),
            col<SnapshotRow>("dependants", (s) => s.dependants.join(",") || null),
          ],
          "no snapshots",
        );
      }
      const snap = x.arg(2, `snapshot ${sub} NAME SNAP`);
      if (sub === "create") {
        const r = await operation(x, `snapshot ${snap} of ${inst}`, () => x.c.call("createSnapshot", { params: { name: inst }, body: { name: snap, wait: false } }));
        return x.out(r, `${inst}: snapshot ${snap} taken`);
      }
      if (sub === "restore") return x.out(await x.c.call("restoreSnapshot", { params: { name: inst, snapshot: snap } }), `${inst}: restored to ${snap}`);
      if (sub === "rm") return x.out(await x.c.call("deleteSnapshot", { params: { name: inst, snapshot: snap } }), `${inst}: snapshot ${snap} deleted`);
      x.fail("snapshot ls | create | restore | rm");
    },
  },
  {
    name: "clone",
    help: ["clone SOURCE NEW [--snapshot SNAP]  O(1) from a snapshot, else a full copy (with progress)"],
    flags: ["snapshot"],
    completes: "instance",
    async run(x) {
      const source = x.arg(0, "clone SOURCE NEW [--snapshot SNAP]");
      const target = x.arg(1, "clone SOURCE NEW [--snapshot SNAP]");
      const body: BodyIn<"cloneInstance"> = { name: target, wait: false };
      if (x.v.snapshot) body.snapshot = x.v.snapshot;
      const r = await operation(x, `cloning ${source}`, () => x.c.call("cloneInstance", { params: { name: source }, body }));
      x.out(r, `cloned ${source} into ${target}${x.v.snapshot ? ` from snapshot ${x.v.snapshot}` : " (full copy)"}`);
    },
  },
  {
    name: "images",
    help: ["images                               the image list as JSON (image ls for a table)"],
    async run(x) {
      x.out(await x.c.call("listImages"));
    },
  },
];

import type { Usage } from "../store/tenants-repo.js";
import type { Command } from "./command.js";
import type { CoreServices } from "./handlers.js";

const MiB = 1024 * 1024;
/** MiB a file of this many bytes counts for. */
const mib = (bytes: number) => Math.ceil(bytes / MiB);

/**
 * What a command would add to its tenant's usage, checked and reserved before
 * it runs: instances, memory, and every byte it makes on disk, images it then
 * owns (snapshots, clone bases, merges) included. Names are stored names.
 */
export function usageDelta(s: CoreServices, cmd: Command): Partial<Usage> | null {
  const i = s.instances;
  /** virtual size of an instance's root disk: what a flatten of it writes */
  const rootMiB = (name: string) => mib(i.row(name) && (i.get(name).disks.find((d) => d.slot === "ubda")?.sizeBytes ?? 0));
  switch (cmd.kind) {
    case "instance.create":
      return { instances: 1, memoryMiB: cmd.maxMemoryMiB ?? cmd.memoryMiB, diskMiB: cmd.diskQuotaMiB ?? mib(s.catalog.image(cmd.image).size_bytes) };
    case "instance.clone": {
      const src = i.row(cmd.name);
      // the clone boots with max(memoryMiB, the source's boot size) (snapshots.ts)
      const memoryMiB = Math.max(cmd.clone.memoryMiB ?? 0, src.max_memory_mib);
      if (cmd.clone.snapshot !== undefined) {
        const snap = i.snapshots.list(src.name).find((x) => x.name === cmd.clone.snapshot);
        return { instances: 1, memoryMiB, diskMiB: snap ? mib(snap.sizeBytes) : 0 };
      }
      return { instances: 1, memoryMiB, diskMiB: 2 * rootMiB(src.name) }; // a full copy (an image it owns) and the clone's disk over it
    }
    case "instance.configure": {
      const b = cmd.changes;
      const row = i.row(cmd.name);
      const mem = b.maxMemoryMiB !== undefined ? Math.max(0, b.maxMemoryMiB - row.max_memory_mib) : 0;
      let disk = 0;
      if (b.diskQuotaMiB !== undefined) {
        // no per-instance quota counts as the image's size (tenants-repo usage): the delta is what the count changes by
        const imageMiB = mib(s.catalog.imageById(row.image_id)!.size_bytes);
        disk = Math.max(0, (b.diskQuotaMiB ?? imageMiB) - (row.disk_quota_mib ?? imageMiB));
      }
      return mem || disk ? { memoryMiB: mem, diskMiB: disk } : null;
    }
    case "snapshot.create":
      return { snapshots: 1, diskMiB: rootMiB(cmd.instance) };
    case "instance.merge":
      return cmd.merge.shared ? null : { diskMiB: rootMiB(cmd.name) };
    case "disk.attach":
      if (cmd.disk.sizeMiB !== undefined) return { diskMiB: cmd.disk.sizeMiB };
      if (cmd.disk.image !== undefined) return { diskMiB: mib(s.catalog.image(cmd.disk.image).size_bytes) };
      return null; // an existing disk of its own: counted already
    default:
      return null;
  }
}

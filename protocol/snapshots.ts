import { z } from "zod";
import { InstanceView, MemoryMiB } from "./instances.js";
import { OperationView } from "./operations.js";
import { Name, OwnedName } from "./names.js";

export const CreateSnapshotRequest = z.object({ name: Name, wait: z.boolean().default(true) }).strict();
export const SnapshotParams = z.object({ name: OwnedName, snapshot: Name }).strict();

export const SnapshotView = z.object({
  name: z.string(),
  image: z.string().describe("the sealed image holding the snapshot; clone from it or restore to it"),
  sizeBytes: z.number().int(),
  allocatedBytes: z.number().int(),
  dependants: z.array(z.string()).describe("instances and disks layered on it"),
  createdAt: z.string(),
});
export type SnapshotView = z.infer<typeof SnapshotView>;

export const CloneRequest = z
  .object({
    name: Name.describe("the new instance"),
    snapshot: Name.optional().describe("clone this snapshot in O(1) (a new COW over it); without it: a full independent copy of the current disk"),
    memoryMiB: MemoryMiB.optional(),
    wait: z.boolean().default(true),
  })
  .strict();

export const MergeRequest = z
  .object({
    image: Name.describe("name of the new standalone image"),
    switch: z.boolean().default(true).describe("put the instance on a fresh COW over the new image once it is written"),
    shared: z.boolean().default(false).describe("publish the image in the shared catalogue (every tenant sees it); otherwise it belongs to the instance's tenant, or to the admin"),
    wait: z.boolean().default(true),
  })
  .strict();

export const SnapshotList = z.object({ snapshots: z.array(SnapshotView) });
export const SnapshotOperation = z.object({ operation: OperationView, result: SnapshotView.nullable().describe("null while the snapshot is taken (wait=false)") });
export const CloneOperation = z.object({ operation: OperationView, result: InstanceView.nullable().describe("the new instance; null while it is made (wait=false)") });
export const MergeOperation = z.object({
  operation: OperationView,
  result: z
    .object({ image: z.string(), switched: z.boolean().describe("the instance now runs on a fresh COW over the new image") })
    .nullable()
    .describe("null while the merge runs (wait=false)"),
});

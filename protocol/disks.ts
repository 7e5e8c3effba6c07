import { z } from "zod";
import { Name, OwnedName } from "./names.js";

/** Data disk slots: ubda is the root disk; ubdb..ubdp (1-15) are for data disks. */
export const DataSlot = z.string().regex(/^ubd[b-p]$/, "ubdb .. ubdp");

export const AttachDiskRequest = z
  .object({
    disk: OwnedName.optional().describe("the data disk's name: an existing one, or the name of the new one (default for a new one: <instance>-<slot>)"),
    sizeMiB: z
      .number()
      .int()
      .min(1)
      .max(1024 * 1024)
      .optional()
      .describe("create a new sparse raw disk of this size"),
    image: Name.optional().describe("create a new COW disk over this registered image"),
    readOnly: z.boolean().default(false),
  })
  .strict()
  .refine((r) => !(r.sizeMiB !== undefined && r.image !== undefined), { message: "give sizeMiB or image, not both", path: ["image"] })
  .refine((r) => r.disk !== undefined || r.sizeMiB !== undefined || r.image !== undefined, {
    message: "name an existing disk, or give sizeMiB or image for a new one",
    path: ["disk"],
  });
export type AttachDiskRequest = z.input<typeof AttachDiskRequest>;

export const DiskSlotParams = z.object({ name: OwnedName, slot: DataSlot }).strict();
export const DiskNameParams = z.object({ name: OwnedName }).strict();

export const DataDiskView = z.object({
  name: z.string(),
  role: z.enum(["root", "data"]).describe("root: an instance's own COW (ubda), named <instance>-root"),
  kind: z.enum(["raw", "cow"]),
  path: z.string(),
  backingPath: z.string().nullable(),
  backingSizeBytes: z.number().int().nullable().describe("the backing's size, recorded when the COW was made"),
  backingMtime: z.number().int().nullable().describe("the backing's mtime (s), recorded when the COW was made"),
  sizeBytes: z.number().int(),
  allocatedBytes: z.number().int(),
  attachments: z.array(z.object({ instance: z.string(), slot: z.string(), readOnly: z.boolean() })),
  createdAt: z.string(),
});
export type DataDiskView = z.infer<typeof DataDiskView>;

export const AttachmentView = z.object({
  slot: z.string().describe("ubdb .. ubdp; the guest sees /dev/<slot>"),
  disk: z.string(),
  readOnly: z.boolean(),
  live: z.boolean().describe("true when it was hot-plugged into the running guest now"),
});
export type AttachmentView = z.infer<typeof AttachmentView>;

export const DataDiskList = z.object({ disks: z.array(DataDiskView) });
export const DetachDiskResult = z.object({ detached: z.string().describe("the slot it was in"), disk: z.string() });

import { z } from "zod";
import { Name, OwnedName } from "./names.js";
import { OperationView } from "./operations.js";

export const ImageView = z.object({
  name: z.string(),
  path: z.string(),
  sizeBytes: z.number().int().describe("virtual size"),
  allocatedBytes: z.number().int().describe("host bytes used"),
  sha256: z.string(),
  readiness: z.enum(["notify", "none"]).describe("notify: the image's init signals readiness through /proc/mconsole"),
  kind: z.enum(["built-in", "imported", "snapshot", "merged"]),
  source: z.string().nullable(),
  owner: z.string().nullable().describe("the tenant it belongs to; null: the admin's"),
  shared: z.boolean().describe("in the admin's shared catalogue: every tenant sees and uses it"),
  dependants: z.array(z.string()).describe("instances and disks layered on this image"),
  createdAt: z.string(),
});

export const ImportImageRequest = z
  .object({
    name: Name,
    source: z
      .object({
        type: z.enum(["raw", "dir", "tar"]).describe("raw: an ext2/3/4 image file; dir: a directory; tar: a tar archive (plain or compressed)"),
        path: z
          .string()
          .min(1)
          .max(4095)
          .regex(/^\/[^\0]*$/, "an absolute host path"),
      })
      .strict(),
    readiness: z.enum(["notify", "none"]).default("none").describe("notify if the image's init writes umld:ready to /proc/mconsole"),
    sizeMiB: z
      .number()
      .int()
      .min(8)
      .max(1024 * 1024)
      .optional()
      .describe("file system size for dir/tar (default: content + 30% + 32 MiB)"),
    wait: z.boolean().default(true),
  })
  .strict();
export type ImportImageRequest = z.input<typeof ImportImageRequest>;
/** A tenant names its own images (and shared ones) plainly; admins use stored names, `<tenant>.<name>` for a tenant's. */
export const ImageNameParams = z.object({ name: OwnedName }).strict();

export const ImageRecipe = z
  .enum(["busybox", "debian"])
  .describe("busybox: busybox-static (seconds); debian: a minimal Debian (bookworm) made with debootstrap from Debian's packages, login on the console (minutes)");

export const BuildImageRequest = z
  .object({
    name: Name,
    recipe: ImageRecipe,
    sizeMiB: z
      .number()
      .int()
      .min(32)
      .max(1024 * 1024)
      .optional(),
    wait: z.boolean().default(true),
  })
  .strict();

export const VerifyResult = z.object({
  image: z.string(),
  ok: z.boolean(),
  expectedSha256: z.string(),
  actualSha256: z.string(),
  layers: z.array(z.object({ disk: z.string(), ok: z.boolean(), reason: z.string().nullable() })).describe("every COW over the image, checked against it (size, mtime)"),
});
export type ImageView = z.infer<typeof ImageView>;

export const KernelView = z.object({
  name: z.string(),
  path: z.string(),
  version: z.string(),
  sha256: z.string(),
  sizeBytes: z.number().int(),
  isDefault: z.boolean(),
  createdAt: z.string().describe("when it was added"),
});
export type KernelView = z.infer<typeof KernelView>;

export const ImageList = z.object({ images: z.array(ImageView) });
export const KernelList = z.object({ kernels: z.array(KernelView) });
export const ImageOperation = z.object({ operation: OperationView, image: ImageView.nullable().describe("the image, once the operation succeeded; null while it runs") });

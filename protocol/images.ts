import { z } from "zod";

export const ImageView = z.object({
  name: z.string(),
  path: z.string(),
  sizeBytes: z.number().int(),
  sha256: z.string(),
  readiness: z.enum(["notify", "none"]).describe("notify: the image's init signals readiness through /proc/mconsole"),
  createdAt: z.string(),
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

import { z } from "zod";
import { LimitsView, MemoryReclaim, OnHang, RestartPolicy } from "./instances.js";
import { Name, OwnedName } from "./names.js";

/** A migration's id: chosen by the source, names the target's staging files (so it is checked as strictly as a path part). */
export const MigrationId = z.string().regex(/^[0-9a-f]{16}$/);

/** What the source host tells the target of the instance it moves (host-to-host only, signed with the fleet secret). */
export const MigrationSpec = z
  .object({
    id: MigrationId,
    from: Name,
    name: OwnedName,
    memoryMiB: z.number().int().min(32).max(65536),
    maxMemoryMiB: z.number().int().min(32).max(65536),
    memoryReclaim: MemoryReclaim,
    bootOptions: z.array(z.string().max(256)).max(32),
    kernel: Name,
    limits: LimitsView,
    policy: z.object({ autostart: z.boolean(), autostartOrder: z.number().int(), autostartDelayS: z.number(), restartPolicy: RestartPolicy, hangTimeoutS: z.number().int(), onHang: OnHang }),
    image: z.object({
      name: OwnedName,
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      size: z.number().int().nonnegative(),
      owner: Name.nullable(),
      shared: z.boolean(),
      readiness: z.enum(["notify", "none"]),
    }),
    cow: z.object({ size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  })
  .strict();
export type MigrationSpec = z.infer<typeof MigrationSpec>;

export const FilePart = z.enum(["image", "cow"]);
export const FileQuery = z.object({ size: z.coerce.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict();

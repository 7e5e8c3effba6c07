import { z } from "zod";
import { LimitsView, MemoryReclaim, OnHang, RestartPolicy } from "./instances.js";
import { Name, OwnedName } from "./names.js";
import { NetworkKind } from "./networks.js";

/** A migration's id: chosen by the source, names the target's staging files (so it is checked as strictly as a path part). */
export const MigrationId = z.string().regex(/^[0-9a-f]{16}$/);

/** A NIC that moves with its instance: the same-named network of the same kind on the target, the same slot, MAC and address. */
export const MigrationNic = z
  .object({
    slot: z.string().regex(/^eth([0-9]|1[0-5])$/),
    network: OwnedName,
    kind: NetworkKind,
    mac: z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/),
    ip: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/),
  })
  .strict();
export type MigrationNic = z.infer<typeof MigrationNic>;

/** Asked of the target before the source shuts anything down: can it take these NICs as they are? */
export const MigrationCheck = z.object({ name: OwnedName, from: Name, nics: z.array(MigrationNic).max(16) }).strict();

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
    nics: z.array(MigrationNic).max(16).default([]),
  })
  .strict();
export type MigrationSpec = z.infer<typeof MigrationSpec>;

export const FilePart = z.enum(["image", "cow"]);
export const FileQuery = z.object({ size: z.coerce.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict();

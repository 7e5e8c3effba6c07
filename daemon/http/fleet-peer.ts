import type { FastifyInstance, FastifyRequest } from "fastify";
import { chownSync, mkdirSync, renameSync, statSync, unlinkSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { UmldError } from "../../core/errors.js";
import { receiveFile } from "../../core/fleet/transfer.js";
import { sealImage } from "../../core/storage/seal.js";
import { COW_HEADER_V3_SIZE, cowLayout, encodeCowHeader } from "../../core/uml/cow.js";
import { FilePart, FileQuery, MigrationId, MigrationSpec } from "../../protocol/fleet-peer.js";
import { validationError } from "./errors.js";
import { peerRequests } from "./peers.js";
import type { Services } from "../services.js";

/**
 * The target's side of a cold migration: endpoints only another host of the
 * fleet may call (its request signed with the fleet secret, else 401). Every
 * path on disk is this host's own (its state dir, the migration id checked as
 * 16 hex digits, a fixed part name); a received file must have the size and
 * sha256 its signed request announced, and a COW the size its image implies.
 */
export function registerFleetPeer(app: FastifyInstance, s: Services, stateDir: string): void {
  const incoming = join(stateDir, "incoming");
  const staged = (id: string, part: string) => join(incoming, `${MigrationId.parse(id)}.${FilePart.parse(part)}`);
  const peerOnly = (req: FastifyRequest) => {
    if (!s.fleet || !peerRequests.has(req.raw)) throw new UmldError("unauthorized", "fleet endpoints answer other hosts of the fleet only");
  };
  const parse = <T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: import("zod").ZodError } }, v: unknown, where: "body" | "params" | "query"): T => {
    const r = schema.safeParse(v);
    if (!r.success) throw validationError(where, r.error);
    return r.data;
  };
  // a file between hosts is a stream, on these routes only (every other route keeps answering 415 for it)
  void app.register(async (files) => {
    files.addContentTypeParser("application/octet-stream", (_req, payload, done) => done(null, payload));
    files.put("/fleet/v1/migrations/:id/:part", { bodyLimit: Number.MAX_SAFE_INTEGER }, async (req) => {
      peerOnly(req);
      const p = req.params as { id: string; part: string };
      const q = parse(FileQuery, req.query, "query");
      mkdirSync(incoming, { recursive: true, mode: 0o700 });
      try {
        await receiveFile(req.body as Readable, staged(p.id, p.part), q.size, q.sha256);
      } catch (e) {
        throw new UmldError("invalid_request", `the ${FilePart.parse(p.part)} was refused: ${(e as Error).message}`);
      }
      return { received: q.size };
    });
  });

  /** Whether the target needs the image; a copy of the instance left here by an earlier try that never committed goes. */
  app.post("/fleet/v1/migrations/prepare", async (req) => {
    peerOnly(req);
    const spec = parse(MigrationSpec, req.body, "body");
    const owner = s.fleet!.fleet.ownerOf(spec.name);
    if (owner !== spec.from) throw new UmldError("fleet_conflict", `'${spec.name}' is held by ${owner ?? "nobody"} in the fleet, not by ${spec.from}`, { name: spec.name, host: owner });
    if (s.instances.list().some((i) => i.name === spec.name)) await s.instances.delete(spec.name, true); // not this host's: the claim says so
    return { needImage: findImage(s, spec) === null };
  });

  /** Registers the instance from the staged files: the image (if sent), a new instance with the same settings, its COW in place with this host's backing path in the header. */
  app.post("/fleet/v1/migrations/register", async (req) => {
    peerOnly(req);
    const spec = parse(MigrationSpec, req.body, "body");
    if (spec.cow.size !== cowLayout(spec.image.size).fileSize) throw new UmldError("invalid_request", "the COW's size is not the one its image implies");
    let image = findImage(s, spec);
    if (!image) {
      const file = staged(spec.id, "image");
      const st = statSync(file);
      if (st.size !== spec.image.size) throw new UmldError("invalid_request", "the staged image is not the announced size");
      const path = join(s.catalog.imagesDirectory(), `${spec.id}.img`);
      renameSync(file, path);
      sealImage(path, spec.image.owner, spec.image.shared);
      const row = await s.catalog.registerImageFile({
        base: spec.image.name.replace(/^[^.]*\./, ""),
        path,
        kind: "imported",
        readiness: spec.image.readiness,
        source: `fleet:${spec.from}`,
        owner: spec.image.owner,
        shared: spec.image.shared,
        instanceId: null,
      });
      if (row.sha256 !== spec.image.sha256) throw new UmldError("invalid_request", "the image's sha256 changed after it was received");
      image = row.name;
    }
    const kernel = s.catalog.listKernels().some((k) => k.name === spec.kernel) ? spec.kernel : undefined;
    s.instances.create({
      name: spec.name,
      memoryMiB: spec.memoryMiB,
      maxMemoryMiB: spec.maxMemoryMiB,
      memoryReclaim: spec.memoryReclaim,
      limits: spec.limits,
      policy: spec.policy,
      image,
      kernel,
      bootOptions: spec.bootOptions,
    });
    const disk = s.instances.get(spec.name).disks.find((d) => d.slot === "ubda");
    const row = s.instances.rootDiskRow(spec.name);
    if (!disk || !row || row.backing_path === null || row.backing_size === null || row.backing_mtime === null) throw new UmldError("internal", "the new instance has no root COW over its image");
    const cow = staged(spec.id, "cow");
    const fh = await open(cow, "r+");
    try {
      // the header names this host's copy of the backing image, as its disk row records it
      await fh.write(encodeCowHeader({ backingFile: row.backing_path, mtime: row.backing_mtime, size: row.backing_size }), 0, COW_HEADER_V3_SIZE, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const made = statSync(row.path);
    chownSync(cow, made.uid, made.gid);
    renameSync(cow, row.path);
    return { registered: spec.name };
  });

  /** Staged files of a migration that will not finish here. */
  app.delete("/fleet/v1/migrations/:id", async (req) => {
    peerOnly(req);
    const id = (req.params as { id: string }).id;
    for (const part of FilePart.options) {
      try {
        unlinkSync(staged(id, part));
      } catch {
        // not there
      }
    }
    return { deleted: id };
  });
}

/** The name of an image here with the sha256 the instance's has, usable by its owner (null: it must be sent). */
function findImage(s: Services, spec: MigrationSpec): string | null {
  const hit = s.catalog.imageRows().find((i) => i.sha256 === spec.image.sha256 && (i.shared === 1 || i.owner === spec.image.owner));
  return hit?.name ?? null;
}

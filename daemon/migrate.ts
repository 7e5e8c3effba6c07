import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { UmldError } from "../core/errors.js";
import type { FleetMember } from "../core/fleet/fleet.js";
import { FLEET_HEADER, forwardedOf } from "../core/fleet/peer-auth.js";
import { dataBytes, encodeExtents, openSource, type Source, sourceSha256 } from "../core/fleet/transfer.js";
import type { Principal } from "../core/tenants/principal.js";
import type { MigrationNic, MigrationSpec } from "../protocol/fleet-peer.js";
import type { OperationView } from "../protocol/operations.js";
import { callPeer } from "./http/peers.js";
import { place } from "../core/fleet/placement.js";
import type { Services } from "./services.js";

const HOST: Principal = { kind: "admin", label: "fleet", tokenId: null, tenant: null, actions: null };

/** A test seam: UMLD_FLEET_TEST_STALL=<step> holds a migration at that step for a minute, so a test can kill a host there. */
async function stall(step: string): Promise<void> {
  if (process.env.UMLD_FLEET_TEST_STALL === step) await new Promise((r) => setTimeout(r, 60_000));
}

/** What a migration cannot carry yet (refused before anything is done). */
function unmovable(s: Services, name: string): string[] {
  const v = s.instances.get(name);
  const out: string[] = [];
  if (v.attachments.length) out.push("data disks");
  for (const n of v.nics) {
    const fwd = s.instances.networks.forwards.list(n.network).filter((f) => f.instance === name && f.slot === n.slot);
    if (fwd.length) out.push(`port forwards to ${n.slot} (${fwd.map((f) => `${f.protocol}/${f.listenPort}`).join(", ")}): remove them first`);
  }
  if (v.hostfsDir) out.push("a host directory");
  if (s.instances.snapshots.list(name).length) out.push("snapshots");
  if (s.instances.io.listChannels(name).length) out.push("extra consoles");
  return out;
}

/** The instance's NICs as they move: network (by name, with its kind), slot, MAC and address. */
function nicsOf(s: Services, name: string): MigrationNic[] {
  const kinds = new Map(s.instances.networks.list().map((n) => [n.name, n.kind]));
  return s.instances.get(name).nics.map((n) => ({ slot: n.slot, network: n.network, kind: kinds.get(n.network)!, mac: n.mac, ip: n.ip }));
}

/** Streams a file's extents to the target (holes stay holes), its size and sha256 in the signed path. */
async function sendFile(m: FleetMember, to: string, id: string, part: "image" | "cow", src: Source, sha256: string, onBytes: (n: number) => void): Promise<void> {
  const target = m.fleet.upHost(to);
  if (!target) throw new UmldError("host_unreachable", `host '${to}' is lost`, { host: to });
  const url = `/fleet/v1/migrations/${id}/${part}?size=${src.size}&sha256=${sha256}`;
  const stream = Readable.from(encodeExtents(src, onBytes));
  let res: Response;
  let text: string;
  try {
    res = await fetch(`${target.url}${url}`, {
      method: "PUT",
      headers: { [FLEET_HEADER]: m.peer.sign(to, "PUT", url, null, forwardedOf(HOST)), "content-type": "application/octet-stream" },
      body: Readable.toWeb(stream) as ReadableStream,
      duplex: "half",
    } as RequestInit);
    text = await res.text();
  } catch (e) {
    // the target died or the connection broke mid-transfer (the bytes counted were read here, not yet received there)
    stream.destroy();
    throw new UmldError("host_unreachable", `host '${to}' did not take the ${part}: ${(e as Error).message}`, { host: to });
  }
  if (res.status !== 200) throw new UmldError("host_unreachable", `host '${to}' refused the ${part}: ${text.slice(0, 300)}`, { host: to });
}

async function peer(m: FleetMember, to: string, method: string, path: string, body: unknown): Promise<unknown> {
  const a = await callPeer(m, to, method, path, body, HOST, 10 * 60_000);
  if (a.status >= 300) {
    const e = (a.body as { error?: { message?: string } }).error;
    throw new UmldError("host_unreachable", `host '${to}' answered ${a.status} to ${path}: ${e?.message ?? ""}`, { host: to });
  }
  return a.body;
}

/**
 * A cold migration of `name` (this host's) to `to`, as an operation: the claim
 * in etcd marked, the guest shut down gracefully, the image sent if the
 * target lacks it (by sha256), the COW sent, the instance registered there
 * with its COW header naming the target's image, then the commit point: the
 * claim names the target (a revision-checked write). Only then is the copy
 * here removed and the guest started there. A crash before the commit leaves
 * this host the owner with its data (the target's copy is removed by the
 * retry or at its next start); after it, the target owns it (this host's copy
 * is removed at its next start). docs/fleet.md walks each case.
 */
export async function migrate(s: Services, m: FleetMember, name: string, to: string, o: { wait: boolean; timeoutS?: number }): Promise<{ operation: OperationView }> {
  if (to === m.fleet.name) {
    // a retry of a migration that committed (its source stopped before it answered): the job is done
    const op = s.operations.begin("instance.migrate", name);
    s.operations.succeed(op.id, { instance: name, from: null, to, imageCopied: false, bytes: 0, started: false, already: true });
    return { operation: s.operations.get(op.id) };
  }
  if (!m.fleet.hosts().some((h) => h.name === to)) throw new UmldError("host_not_found", `no host named '${to}' in the fleet`, { host: to });
  if (!m.fleet.upHost(to)) throw new UmldError("host_unreachable", `host '${to}' is lost`, { host: to });
  const blockers = unmovable(s, name);
  if (blockers.length) throw new UmldError("not_migratable", `'${name}' has what a cold migration does not move yet: ${blockers.join(", ")}`, { blockers });
  const nics = nicsOf(s, name);
  if (nics.length) {
    // asked before anything is shut down: the target must have each network and the NIC's address free
    const { problems } = (await peer(m, to, "POST", "/fleet/v1/migrations/check", { name, from: m.fleet.name, nics })) as { problems: string[] };
    if (problems.length) throw new UmldError("not_migratable", `'${name}' cannot keep its NICs on host '${to}': ${problems.join("; ")}`, { host: to, blockers: problems });
  }
  const id = randomBytes(8).toString("hex");
  await m.fleet.markMigrating(name, id, to);
  const op = s.operations.begin("instance.migrate", name);
  let committed = false;
  let wasRunning = false;
  const work = (async () => {
    const step = (done: number, total: number | null, what: string) => s.operations.progress(op.id, { done, total, unit: "bytes", step: what });
    const before = s.instances.get(name);
    wasRunning = before.pid !== null;
    if (wasRunning) {
      step(0, null, "shutdown");
      await s.instances.act(name, "shutdown", { wait: true, timeoutS: o.timeoutS ?? 60 });
      if (s.instances.get(name).pid !== null) throw new UmldError("instance_busy", `'${name}' did not shut down: it runs on here`, { name });
    }
    const v = s.instances.get(name);
    const image = s.catalog.image(v.image);
    const kernel = v.kernel;
    const root = s.instances.rootDiskRow(name)!;
    step(0, null, "hashing");
    const cowSrc = await openSource(root.path);
    const imageSrc = await openSource(image.path).catch(async (e) => {
      await cowSrc.fh.close();
      throw e;
    });
    let spec: MigrationSpec;
    let needImage: boolean;
    let sent = 0;
    try {
      const cowSha = await sourceSha256(cowSrc);
      spec = {
        id,
        from: m.fleet.name,
        name,
        memoryMiB: v.memoryMiB,
        maxMemoryMiB: v.maxMemoryMiB,
        memoryReclaim: v.memoryReclaim,
        bootOptions: v.bootOptions,
        kernel,
        limits: v.limits,
        policy: v.policy,
        image: { name: image.name, sha256: image.sha256, size: image.size_bytes, owner: image.owner, shared: image.shared === 1, readiness: image.readiness },
        cow: { size: cowSrc.size, sha256: cowSha },
        nics,
      };
      needImage = ((await peer(m, to, "POST", "/fleet/v1/migrations/prepare", spec)) as { needImage: boolean }).needImage;
      const total = (needImage ? dataBytes(imageSrc) : 0) + dataBytes(cowSrc);
      const onBytes = (n: number) => {
        sent += n;
        step(sent, total, "copying");
      };
      if (needImage) await sendFile(m, to, id, "image", imageSrc, image.sha256, onBytes);
      await sendFile(m, to, id, "cow", cowSrc, cowSha, onBytes);
    } finally {
      await cowSrc.fh.close();
      await imageSrc.fh.close();
    }
    await stall("copied");
    await peer(m, to, "POST", "/fleet/v1/migrations/register", spec);
    await stall("registered");
    await m.fleet.commitMigration(name, id, to); // the commit point: the target owns it from here
    committed = true;
    await stall("committed");
    await s.instances.delete(name, true);
    let started = false;
    if (wasRunning) {
      await peer(m, to, "PUT", `/v1/instances/${encodeURIComponent(name)}/state`, { action: "start" });
      started = true;
    }
    return { instance: name, from: m.fleet.name, to, imageCopied: needImage, bytes: sent, started };
  })();
  // a migration that failed before its commit leaves the instance here: a guest it shut down runs again
  const restarted = work.catch(async (e: unknown) => {
    m.fleet.migrationEnded(name);
    if (wasRunning && !committed)
      await s.instances.act(name, "start", { wait: false }).catch((err: unknown) => s.log.warn({ instance: name, err: (err as Error).message }, "migrate: the guest could not start again here"));
    throw e;
  });
  const done = restarted
    .finally(() => m.fleet.migrationEnded(name))
    .then(
      (r) => s.operations.succeed(op.id, r),
      (e) => s.operations.fail(op.id, e),
    );
  if (!o.wait) return { operation: op };
  await done;
  return { operation: s.operations.get(op.id) };
}

/**
 * Drains this host: every instance migrated, one at a time, each to the up
 * host (not this one) with the most free memory; one that cannot move
 * (not_migratable, no host fits, a failure) is reported and left here.
 */
export async function drain(s: Services, m: FleetMember, wait: boolean): Promise<{ operation: OperationView }> {
  const names = s.instances.list().map((i) => i.name);
  const op = s.operations.begin("host.drain", m.fleet.name);
  const work = (async () => {
    const moved: Array<{ instance: string; to: string }> = [];
    const failed: Array<{ instance: string; error: string }> = [];
    for (const [i, name] of names.entries()) {
      s.operations.progress(op.id, { done: i, total: names.length, unit: "steps", step: name });
      try {
        const to = place(
          m.fleet.hosts().filter((h) => !h.self),
          s.instances.row(name).max_memory_mib,
        );
        const r = await migrate(s, m, name, to, { wait: true });
        if (r.operation.status !== "succeeded") throw new Error(r.operation.error?.message ?? "failed");
        moved.push({ instance: name, to });
      } catch (e) {
        failed.push({ instance: name, error: (e as Error).message });
      }
    }
    return { host: m.fleet.name, moved, failed };
  })();
  const done = work.then(
    (r) => s.operations.succeed(op.id, r),
    (e) => s.operations.fail(op.id, e),
  );
  if (!wait) return { operation: op };
  await done;
  return { operation: s.operations.get(op.id) };
}

import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Fleet, type FleetMember } from "../core/fleet/fleet.js";
import { PeerAuth } from "../core/fleet/peer-auth.js";
import { TenantDirectory } from "../core/fleet/directory.js";
import type { FleetConfig } from "./config.js";
import type { Gate } from "./auth/gate.js";
import { verifyPeer } from "./http/peers.js";
import type { Services } from "./services.js";

/** The fleet secret: a root-only file of at least 32 bytes (every host of the fleet holds the same). */
export function readFleetSecret(path: string): Buffer {
  const st = statSync(path);
  if ((st.mode & 0o077) !== 0) throw new Error(`--fleet-secret-file ${path} is readable by others than its owner (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`);
  const secret = Buffer.from(readFileSync(path, "utf8").trim(), "utf8");
  if (secret.length < 32) throw new Error(`--fleet-secret-file ${path} holds ${secret.length} bytes; a fleet secret has at least 32 (e.g. openssl rand -hex 32)`);
  return secret;
}

/** Joins the fleet (refusing to start if etcd does not answer or the host name is another machine's up). */
export async function joinFleet(cfg: FleetConfig, stateDir: string, s: Services, gate: Gate): Promise<FleetMember> {
  const peer = new PeerAuth(readFleetSecret(cfg.secretFile), cfg.hostName);
  const figures = () => {
    const f = s.instances.admission.figures();
    return { memory: { totalMiB: f.hostMemTotalMiB, limitMiB: f.limitMiB, committedMiB: f.committedMiB }, guests: s.instances.counts() };
  };
  const fleet = new Fleet(
    { endpoints: cfg.etcd, hostName: cfg.hostName, advertise: cfg.advertise, leaseTtlS: cfg.leaseTtlS, hostIdFile: join(stateDir, "fleet-host-id") },
    s.daemonVersion,
    figures,
    s.log,
  );
  await fleet.join();
  const names = await fleet.reconcileNames(s.instances.list().map((i) => i.name));
  for (const name of names.stale) {
    // the fleet's record names another host that has the data: this copy is a migration's leftover, never started
    await s.instances.delete(name, true);
    s.log.warn({ instance: name }, "fleet: removed this host's stale copy of an instance another host owns since a migration");
  }
  if (names.conflicts.length) s.log.error({ conflicts: names.conflicts }, "fleet: instances here whose names other hosts hold: rename them (docs/fleet.md)");
  if (names.claimed.length || names.released.length) s.log.info({ claimed: names.claimed, released: names.released }, "fleet: instance names reconciled");
  const directory = new TenantDirectory(fleet.etcd, fleet.mirror, s.tenants, s.log);
  await directory.start();
  s.dispatcher.setFleet({
    claim: (n, mib) => fleet.claim(n, mib),
    elsewhere: (t) => fleet.elsewhere(t),
    release: (n) => fleet.release(n),
    before: (cmd) => {
      if (cmd.kind === "tenant.delete") directory.checkDelete(cmd.name, fleet.claims());
      const instance = cmd.kind.startsWith("instance.") ? (cmd as { name?: string }).name : (cmd as { instance?: string }).instance;
      if (typeof instance === "string") fleet.checkNotMoving(instance);
    },
    after: async (cmd, result) => {
      if (cmd.kind === "instance.configure" && cmd.changes.maxMemoryMiB !== undefined) {
        // the configure is done here; a claim left behind only under-counts until the next one
        await fleet
          .setMemory(cmd.name, s.instances.row(cmd.name).max_memory_mib)
          .catch((e: unknown) => s.log.warn({ instance: cmd.name, err: (e as Error).message }, "fleet: the claim's boot size could not be updated"));
      }
      if (cmd.kind === "tenant.create" || cmd.kind === "tenant.update" || cmd.kind === "tenant.delete") await directory.published(cmd.kind, cmd.name, null);
      if (cmd.kind === "token.create") await directory.published(cmd.kind, cmd.tenant, (result as { id: string }).id);
      if (cmd.kind === "token.revoke") await directory.published(cmd.kind, cmd.tenant, cmd.token);
    },
  });
  const member = { fleet, peer };
  gate.setPeerVerifier((req, header) => verifyPeer(member, req, header));
  return member;
}

import Database from "better-sqlite3";
import { existsSync, readdirSync } from "node:fs";
import { readCowHeader } from "../../core/uml/cow.js";
import { umlMainPids, umlOption } from "../../core/host/procfs.js";

/** Live UML main pids by umid for a state dir. */
export function liveGuests(stateDir: string): Map<string, number> {
  return umlMainPids((argv) => {
    const umid = umlOption(argv, "umid");
    return umid !== null && umlOption(argv, "uml_dir") === `${stateDir}/instances/${umid}/run/`;
  });
}

/**
 * Does the database agree with the files on disk and the running processes?
 * Returns the disagreements (empty: consistent).
 */
export function checkConsistency(stateDir: string): string[] {
  const problems: string[] = [];
  const db = new Database(`${stateDir}/umld.db`, { readonly: true, fileMustExist: true });
  try {
    const instances = db.prepare("SELECT id, name, state, pid FROM instances").all() as Array<{ id: string; name: string; state: string; pid: number | null }>;
    const ids = new Set(instances.map((i) => i.id));
    const live = liveGuests(stateDir);
    for (const i of instances) {
      const disks = db.prepare("SELECT path, backing_path FROM disks WHERE instance_id = ?").all(i.id) as Array<{ path: string; backing_path: string }>;
      if (disks.length === 0) problems.push(`${i.name}: no root disk recorded`);
      for (const d of disks) {
        if (!existsSync(d.path)) problems.push(`${i.name}: COW ${d.path} missing`);
        else if (!readCowHeader(d.path)) problems.push(`${i.name}: ${d.path} is not a COW file`);
        if (!existsSync(d.backing_path)) problems.push(`${i.name}: backing ${d.backing_path} missing`);
      }
      const active = ["starting", "running", "paused", "stopping"].includes(i.state);
      const pid = live.get(i.id);
      if (active && pid === undefined) problems.push(`${i.name}: ${i.state} but no process`);
      if (active && pid !== undefined && i.pid !== pid) problems.push(`${i.name}: recorded pid ${i.pid}, process ${pid}`);
      if (!active && pid !== undefined) problems.push(`${i.name}: ${i.state} but process ${pid} runs`);
    }
    for (const [umid, pid] of live) if (!ids.has(umid)) problems.push(`process ${pid} (umid ${umid}) belongs to no instance`);
    for (const dir of readdirSync(`${stateDir}/instances`)) if (!ids.has(dir)) problems.push(`instance directory ${dir} has no record`);
    const images = db.prepare("SELECT name, path FROM images").all() as Array<{ name: string; path: string }>;
    const imagePaths = new Set(images.map((i) => i.path));
    for (const img of images) if (!existsSync(img.path)) problems.push(`image ${img.name}: ${img.path} missing`);
    for (const f of readdirSync(`${stateDir}/images`)) {
      if (f.endsWith(".partial")) problems.push(`leftover ${f}`);
      else if (/^[0-9a-f]{16}\.ext4$/.test(f) && !imagePaths.has(`${stateDir}/images/${f}`)) problems.push(`image file ${f} has no record`);
    }
    const snaps = db.prepare("SELECT s.name, i.path FROM snapshots s LEFT JOIN images i ON i.id = s.image_id").all() as Array<{ name: string; path: string | null }>;
    for (const s of snaps) if (!s.path || !existsSync(s.path)) problems.push(`snapshot ${s.name}: image missing`);
    const running = db.prepare("SELECT COUNT(*) AS n FROM operations WHERE status = 'running'").get() as { n: number };
    if (running.n > 0) problems.push(`${running.n} operations still 'running' after a restart`);
  } finally {
    db.close();
  }
  return problems;
}

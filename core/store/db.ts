import Database from "better-sqlite3";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export type Db = Database.Database;

/** <repo>/migrations, from dist/core/store/db.js */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../../../migrations/", import.meta.url));

/** Opens the database with umld's pragmas (one place) and applies pending migrations. */
export function openDb(path: string, migrationsDir = MIGRATIONS_DIR): Db {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  // FULL: a committed row survives a power cut (NORMAL in WAL mode may lose the last commits, and then
  // files on disk outlive the rows that name them); rows no file depends on use withoutFsync below.
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db, migrationsDir);
  return db;
}

const switches = new WeakMap<Db, { normal: Database.Statement; full: Database.Statement }>();

/**
 * Runs a write that no file depends on (an event, an operation, a guest's
 * runtime state: after a power cut every guest is gone and reconciled anyway)
 * without an fsync of its own (synchronous NORMAL): it becomes durable with
 * the next FULL commit or checkpoint. An fsync here takes 4 ms at the median
 * and 16-36 ms at the tail, and a boot writes ~8 such rows on the main thread,
 * which every API request would wait behind. Every other write keeps FULL.
 */
export function withoutFsync<T>(db: Db, write: () => T): T {
  if (db.inTransaction) return write(); // the pragma is the connection's: inside a transaction it is the outer commit's
  let s = switches.get(db);
  if (!s) switches.set(db, (s = { normal: db.prepare("PRAGMA synchronous = NORMAL"), full: db.prepare("PRAGMA synchronous = FULL") }));
  s.normal.run();
  try {
    return write();
  } finally {
    s.full.run();
  }
}

/** Numbered, append-only files `NNNN_name.sql`, each applied once, all pending ones in one transaction. */
export function migrate(db: Db, dir: string): number[] {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)");
  const done = new Set((db.prepare("SELECT version FROM schema_migrations").all() as Array<{ version: number }>).map((r) => r.version));
  const files = readdirSync(dir)
    .map((f) => /^(\d{4})_([\w-]+)\.sql$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ version: Number(m[1]), file: m[0] }))
    .sort((a, b) => a.version - b.version);
  const pending = files.filter((f) => !done.has(f.version));
  const apply = db.transaction(() => {
    for (const f of pending) {
      db.exec(readFileSync(`${dir}/${f.file}`, "utf8"));
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(f.version, f.file, new Date().toISOString());
    }
  });
  apply();
  return pending.map((f) => f.version);
}

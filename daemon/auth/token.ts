import { randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";

/** Reads a token file (DIR/admin.token, DIR/metrics.token), creating it (mode 0600) on first start. */
export function ensureAdminToken(path: string): string {
  if (existsSync(path)) {
    chmodSync(path, 0o600);
    const t = readFileSync(path, "utf8").trim();
    if (t.length >= 32) return t;
  }
  const token = `umld_${randomBytes(32).toString("hex")}`;
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return token;
}

/** The token of an `Authorization: Bearer ...` header, or null. */
export function bearerOf(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m ? m[1]! : null;
}

/** Constant-time check of a presented token. */
export function tokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

import { randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";

/** Reads DIR/admin.token, creating it (mode 0600) on first start. */
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

/** Constant-time check of an `Authorization: Bearer ...` header. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

import { randomBytes } from "node:crypto";

/** 16 hex chars: short enough for a UML umid and a unix socket path. */
export function newId(prefix = ""): string {
  return prefix + randomBytes(8).toString("hex");
}

export function nowIso(): string {
  return new Date().toISOString();
}

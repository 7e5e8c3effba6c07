import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO } from "../harness/daemon.js";

function sources(dir: string): string[] {
  return readdirSync(join(REPO, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

function imports(file: string): string[] {
  const text = readFileSync(join(REPO, file), "utf8");
  return [...text.matchAll(/^\s*import\s[^;]*?from\s+"([^"]+)"/gm)].map((m) => m[1]!);
}

describe("dependencies run one way: protocol ← core ← daemon", () => {
  it("protocol/ imports only zod and itself (no node:*)", () => {
    for (const f of sources("protocol")) for (const i of imports(f)) assert.ok(i === "zod" || i.startsWith("./"), `${f} imports ${i}`);
  });

  it("core/ never imports the daemon, the CLI, fastify or ws", () => {
    for (const f of sources("core")) {
      for (const i of imports(f)) assert.ok(!/^(fastify|ws)$|\/daemon\/|\/cli\//.test(i), `${f} imports ${i}`);
    }
  });

  it("cli/ talks to umld only through the public protocol and client/", () => {
    for (const f of sources("cli")) for (const i of imports(f)) assert.ok(!/\/(core|daemon)\//.test(i), `${f} imports ${i}`);
  });

  it("client/ imports only protocol/ and zod; only client/node/ may use node:* (the rest runs in a browser)", () => {
    const files = sources("client");
    assert.ok(files.some((f) => f.startsWith("client/node/")) && files.some((f) => !f.startsWith("client/node/")));
    for (const f of files) {
      const node = f.startsWith("client/node/");
      for (const i of imports(f)) {
        const ok = i === "zod" || i.startsWith("./") || /^(\.\.\/)+protocol\//.test(i) || (node && (i.startsWith("node:") || i.startsWith("../")));
        assert.ok(ok, `${f} imports ${i}`);
      }
    }
  });
});

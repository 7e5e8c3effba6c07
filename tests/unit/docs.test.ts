import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ERRORS } from "../../protocol/errors.js";
import { routes, websockets } from "../../protocol/routes.js";
import { lifecycleMermaid } from "../../core/lifecycle/diagram.js";
import { REPO } from "../harness/daemon.js";

const doc = (name: string) => readFileSync(`${REPO}docs/${name}`, "utf8");

describe("docs/ stays true to the code", () => {
  it("errors.md lists every registered code with its status, and nothing else", () => {
    const text = doc("errors.md");
    const rows = [...text.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    assert.deepEqual(rows, Object.entries(ERRORS).map(([code, e]) => [code, e.status]));
  });

  it("lifecycle.md embeds the diagram generated from the transition table", () => {
    assert.ok(doc("lifecycle.md").includes("```mermaid\n" + lifecycleMermaid() + "\n```"), "regenerate the diagram with core/lifecycle/diagram.ts");
  });

  it("protocol.md documents every endpoint with its success status", () => {
    const text = doc("protocol.md");
    for (const r of Object.values(routes)) assert.ok(text.includes(`| \`${r.method} /v1${r.path}\` | ${r.status} |`), `${r.method} ${r.path}`);
    for (const w of Object.values(websockets)) assert.ok(text.includes(`\`WS /v1${w.path}\``), w.path);
  });
});

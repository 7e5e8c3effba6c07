import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ERRORS } from "../../protocol/errors.js";
import { regenerate } from "../../scripts/protocol-doc.js";
import { CAPABILITIES } from "../../protocol/version.js";
import { lifecycleMermaid } from "../../core/lifecycle/diagram.js";
import { REPO } from "../harness/daemon.js";

const doc = (name: string) => readFileSync(`${REPO}docs/${name}`, "utf8");

describe("docs/ stays true to the code", () => {
  it("errors.md lists every registered code with its status, and nothing else", () => {
    const text = doc("errors.md");
    const rows = [...text.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    assert.deepEqual(
      rows,
      Object.entries(ERRORS).map(([code, e]) => [code, e.status]),
    );
  });

  it("lifecycle.md embeds the diagram generated from the transition table", () => {
    assert.ok(doc("lifecycle.md").includes(`\`\`\`mermaid\n${lifecycleMermaid()}\n\`\`\``), "regenerate the diagram with core/lifecycle/diagram.ts");
  });

  it("protocol.md names every capability", () => {
    const text = doc("protocol.md");
    for (const c of CAPABILITIES) assert.ok(text.includes(`\`${c}\``), c);
  });

  it("protocol.md's endpoint, instance view and event tables are the ones generated from the contract", () => {
    const text = doc("protocol.md");
    assert.equal(text, regenerate(text), "run npm run openapi and commit docs/protocol.md");
  });
});

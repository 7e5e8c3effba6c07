import { INSTANCE_STATES } from "../../protocol/instances.js";
import { TRANSITIONS } from "./transitions.js";

/** The lifecycle diagram (Mermaid) generated from the transition table; docs/lifecycle.md embeds it and a test keeps it equal. */
export function lifecycleMermaid(): string {
  const lines = ["stateDiagram-v2", "    [*] --> stopped: create"];
  for (const from of INSTANCE_STATES) {
    for (const [event, to] of Object.entries(TRANSITIONS[from])) lines.push(`    ${from} --> ${to}: ${event}`);
  }
  lines.push("    stopped --> [*]: delete", "    crashed --> [*]: delete");
  return lines.join("\n");
}

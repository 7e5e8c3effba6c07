import { z } from "zod";
import { contract, routeScopes, websockets, ROUTE_NAMES, type RouteDef, type WebSocketDef } from "../protocol/contract.js";
import { Event } from "../protocol/events.js";
import { InstanceView } from "../protocol/instances.js";
import { openApiDocument } from "../protocol/openapi.js";
import { routePath } from "../protocol/paths.js";

/** docs/openapi.json as committed. */
export function openApiJson(): string {
  return `${JSON.stringify(openApiDocument(), null, 2)}\n`;
}

/** docs/protocol.md's tables, generated from the contract: between these markers the file is rewritten by `npm run openapi`. */
const begin = (name: string) => `<!-- generated from protocol/ by npm run openapi: ${name} -->`;
const END = "<!-- end of generated part -->";

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A short type for a table: string, integer or null, array of …, object {a, b}. */
function typeName(schema: Record<string, unknown>): string {
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as Array<Record<string, unknown>>).map(typeName).join(" or ");
  if (schema.enum) return (schema.enum as unknown[]).map((v) => JSON.stringify(v)).join(", ");
  if (Array.isArray(schema.type)) return schema.type.join(" or ");
  if (schema.type === "array") return `array of ${typeName((schema.items ?? {}) as Record<string, unknown>)}`;
  if (schema.type === "object" && schema.properties) return `{${Object.keys(schema.properties).join(", ")}}`;
  return typeof schema.type === "string" ? schema.type : "any";
}

export function endpointTable(): string {
  const rows = ["| endpoint | success | errors | access | what |", "| --- | --- | --- | --- | --- |"];
  for (const name of ROUTE_NAMES) {
    const def: RouteDef = contract[name];
    const codes = Object.keys(def.responses).map(Number);
    const ok = codes.filter((c) => c < 400).join(", ");
    const errors = codes.filter((c) => c >= 400).join(", ");
    const media = def.contentType ? ` (${def.contentType.split(";")[0]})` : "";
    rows.push(`| \`${def.method} ${routePath(def)}\` | ${ok}${media} | ${errors} | ${routeScopes[name].access} | ${cell(def.summary)} |`);
  }
  for (const ws of Object.values(websockets) as WebSocketDef[]) {
    rows.push(`| \`WS /v1${ws.path}\` | 101 | ${ws.errors.join(", ")} | ${ws.access} | ${cell(ws.summary)} |`);
  }
  return rows.join("\n");
}

export function instanceTable(): string {
  const json = z.toJSONSchema(InstanceView, { io: "output", unrepresentable: "any" }) as { properties: Record<string, Record<string, unknown>> };
  const rows = ["| field | type | meaning |", "| --- | --- | --- |"];
  for (const [field, schema] of Object.entries(json.properties)) {
    const { description, ...rest } = schema;
    rows.push(`| \`${field}\` | ${cell(typeName(rest))} | ${cell(typeof description === "string" ? description : "")} |`);
  }
  return rows.join("\n");
}

export function eventTable(): string {
  const rows = ["| `type` | fields | when |", "| --- | --- | --- |"];
  for (const option of Event.options) {
    const json = z.toJSONSchema(option, { io: "output", unrepresentable: "any" }) as { properties: Record<string, { const?: string }>; description?: string };
    const type = json.properties.type?.const ?? "?";
    const fields = Object.keys(json.properties)
      .filter((k) => k !== "type")
      .map((k) => `\`${k}\``)
      .join(", ");
    rows.push(`| \`${type}\` | ${fields} | ${cell(json.description ?? "")} |`);
  }
  return rows.join("\n");
}

const SECTIONS: Record<string, () => string> = { endpoints: endpointTable, "instance view": instanceTable, events: eventTable };

/** protocol.md with every generated section replaced by what the contract says now. */
export function regenerate(markdown: string): string {
  let out = markdown;
  for (const [name, make] of Object.entries(SECTIONS)) {
    const start = out.indexOf(begin(name));
    const end = out.indexOf(END, start);
    if (start < 0 || end < 0) throw new Error(`docs/protocol.md lacks the markers of the generated section '${name}'`);
    out = `${out.slice(0, start) + begin(name)}\n${make()}\n${out.slice(end)}`;
  }
  return out;
}

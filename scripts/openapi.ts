import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openApiJson, regenerate } from "./protocol-doc.js";

/** `npm run openapi`: writes docs/openapi.json and docs/protocol.md's tables from protocol/ (a unit test fails while they differ). */
const docs = fileURLToPath(new URL("../../docs/", import.meta.url));
writeFileSync(`${docs}openapi.json`, openApiJson());
writeFileSync(`${docs}protocol.md`, regenerate(readFileSync(`${docs}protocol.md`, "utf8")));
process.stdout.write("wrote docs/openapi.json and docs/protocol.md\n");

#!/usr/bin/env node
import { ApiError } from "./client.js";
import { context, fail, parse } from "./context.js";
import { COMMANDS, findCommand } from "./commands/table.js";

const GLOBAL_HELP = `global options (or environment):
  --state-dir DIR   talk to DIR/umld.sock, no token needed (UMLD_STATE_DIR, default /var/lib/umld)
  --url URL         talk over TCP instead, e.g. http://127.0.0.1:7070 (UMLD_URL)
  --token TOKEN     bearer token for --url (UMLD_TOKEN; default: DIR/admin.token if readable);
                    an https URL trusts the system CAs and NODE_EXTRA_CA_CERTS
  --tenant T        admins: act for tenant T, in its names and quotas (UMLD_TENANT)
  --format F        table (default), json, yaml or csv; lists also take -c COL,COL (pick and order
                    columns) and --no-headers; --json is --format json`;

/** The help, from the command table. */
function usage(): string {
  const lines = COMMANDS.flatMap((c) => c.help.map((h) => `  ${h}`));
  return `usage: umlctl [global options] COMMAND [args]\n\ncommands:\n${lines.join("\n")}\n\n${GLOBAL_HELP}`;
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(process.argv.slice(2));
  } catch (e) {
    fail(`${(e as Error).message}\n(umlctl --help lists commands and flags)`);
  }
  const { values, positionals } = parsed;
  const [name, ...args] = positionals;
  if (values.help || !name) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  const command = findCommand(name) ?? fail(`unknown command '${name}'\n${usage()}`);
  await command.run(context(values, args));
}

/** The zod issues an invalid_request carries in its details. */
function issuesOf(details: unknown): Array<{ path: string; message: string }> | null {
  if (typeof details !== "object" || details === null || !("issues" in details) || !Array.isArray(details.issues)) return null;
  return details.issues.map((i: unknown) => ({
    path: typeof i === "object" && i !== null && "path" in i ? String(i.path) : "",
    message: typeof i === "object" && i !== null && "message" in i ? String(i.message) : "",
  }));
}

main().catch((e: unknown) => {
  if (e instanceof ApiError) {
    const issues = issuesOf(e.details);
    fail(`${e.code}: ${e.message}${issues ? `\n${issues.map((i) => `  ${i.path}: ${i.message}`).join("\n")}` : ""}`, 1);
  }
  const err = e as NodeJS.ErrnoException;
  if (err.code === "ENOENT" || err.code === "ECONNREFUSED") fail(`cannot reach umld (${err.message}); is it running? see --state-dir / --url`, 1);
  fail(err.message ?? String(e), 1);
});

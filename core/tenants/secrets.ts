/** umld's token formats: tenant tokens `umld_<id>_<secret>`, the admin and metrics tokens `umld_<secret>`. */
// no word boundaries: "_" and digits are word characters, so a secret pasted next to one (`<token>_old`) kept all of it
const TOKEN = /umld_(?:([a-f0-9]{16})_)?[a-f0-9]{64}/g;

/**
 * The last line of defence for the log: every line is scanned for a token's
 * secret on its way out (a tenant token keeps its id, which names it in the
 * audit log). Nothing logs a token knowingly; this catches what slips in.
 */
export function redactSecrets(line: string): string {
  return line.includes("umld_") ? line.replace(TOKEN, (_m, id: string | undefined) => (id ? `umld_${id}_[redacted]` : "umld_[redacted]")) : line;
}

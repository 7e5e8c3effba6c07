import pino, { type DestinationStream, type Logger } from "pino";
import { redactSecrets } from "../core/tenants/secrets.js";

/** umld's logger: JSON lines at `level`, every line scrubbed of token secrets on its way out (stdout unless `to`). */
export function daemonLogger(level: string, to?: DestinationStream): Logger {
  const options = { level, base: { service: "umld" }, hooks: { streamWrite: redactSecrets } };
  return to ? pino(options, to) : pino(options);
}

#!/usr/bin/env node
import pino from "pino";
import { parseConfig, USAGE } from "./config.js";
import { startDaemon } from "./daemon.js";

async function main(): Promise<void> {
  let cfg: ReturnType<typeof parseConfig>;
  try {
    cfg = parseConfig(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`umld: ${(e as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (cfg === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const log = pino({ level: cfg.logLevel, base: { service: "umld" } });
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon(cfg, log);
  } catch (e) {
    log.fatal({ err: e }, "umld failed to start");
    process.exit(1);
  }
  // a stray rejection is a bug to log, never a reason to take every guest's supervisor down
  process.on("unhandledRejection", (reason) => log.error({ err: reason }, "unhandled rejection (bug): logged, daemon continues"));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
    (cfg.shutdownGuests ? daemon.shutdownGuests(cfg.shutdownDeadlineS).then(() => daemon.close()) : daemon.close()).then(
      () => process.exit(0),
      (e) => {
        log.error({ err: e }, "error while stopping");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

void main();

#!/usr/bin/env node
import { parseConfig, USAGE } from "./config.js";
import { startDaemon } from "./daemon.js";
import { SystemdNotifier } from "./systemd-notify.js";
import { daemonLogger } from "./logger.js";

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
  const log = daemonLogger(cfg.logLevel);
  const systemd = SystemdNotifier.fromEnv(log);
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon(cfg, log);
  } catch (e) {
    log.fatal({ err: e }, "umld failed to start");
    process.exit(1);
  }
  // serving, every guest adopted: only now is the unit started (Type=notify)
  const counts = daemon.services.instances.counts();
  systemd?.ready(`serving; ${counts.running} of ${counts.total} instances running`);
  // a stray rejection is a bug to log, never a reason to take every guest's supervisor down
  process.on("unhandledRejection", (reason) => log.error({ err: reason }, "unhandled rejection (bug): logged, daemon continues"));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
    systemd?.stopping();
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

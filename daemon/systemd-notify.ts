import type { Logger } from "pino";
import { native, type NativeDgramSocket } from "../core/native.js";

/**
 * The sd_notify protocol without libsystemd: datagrams of `KEY=value` lines
 * to the unix socket systemd names in NOTIFY_SOCKET (a path, or "@name" in
 * the abstract namespace). READY=1 once umld serves and has adopted its
 * guests, WATCHDOG=1 every WATCHDOG_USEC/2 while the main thread turns,
 * STOPPING=1 when it stops. Without NOTIFY_SOCKET (not under systemd) it is
 * absent and nothing is sent.
 */
export class SystemdNotifier {
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly socket: NativeDgramSocket,
    private readonly watchdogMs: number | null,
    private readonly log: Logger,
  ) {}

  /**
   * From the environment systemd gives the main process; the variables are
   * removed so no child (a tool umld runs) takes them for its own.
   */
  static fromEnv(log: Logger, env: NodeJS.ProcessEnv = process.env): SystemdNotifier | null {
    const path = env.NOTIFY_SOCKET;
    const usec = Number(env.WATCHDOG_USEC);
    const pid = env.WATCHDOG_PID === undefined ? process.pid : Number(env.WATCHDOG_PID);
    for (const k of ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]) delete env[k];
    if (!path) return null;
    if (!path.startsWith("/") && !path.startsWith("@")) {
      log.warn({ notifySocket: path }, "NOTIFY_SOCKET is neither a path nor an abstract name: not notifying systemd");
      return null;
    }
    const socket = new native.Socket(() => {});
    try {
      socket.connect(path);
    } catch (e) {
      socket.close();
      log.warn({ notifySocket: path, err: (e as Error).message }, "cannot reach systemd's notify socket");
      return null;
    }
    const watchdogMs = Number.isFinite(usec) && usec > 0 && pid === process.pid ? Math.max(1, Math.floor(usec / 2000)) : null;
    return new SystemdNotifier(socket, watchdogMs, log);
  }

  /** Serving, guests adopted: systemd considers the unit started. Starts the watchdog keep-alives. */
  ready(status: string): void {
    this.send(`READY=1\nSTATUS=${status}\nMAINPID=${process.pid}`);
    if (this.watchdogMs !== null && !this.timer) {
      this.timer = setInterval(() => this.send("WATCHDOG=1"), this.watchdogMs);
      this.timer.unref();
      this.log.info({ everyMs: this.watchdogMs }, "systemd watchdog keep-alives");
    }
  }

  status(text: string): void {
    this.send(`STATUS=${text}`);
  }

  /** Stopping: no more keep-alives. */
  stopping(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.send("STOPPING=1");
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.socket.close();
  }

  private send(text: string): void {
    try {
      this.socket.send(Buffer.from(text));
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, "systemd notification not sent"); // systemd gone or restarting: try again next time
    }
  }
}

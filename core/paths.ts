import { join, resolve } from "node:path";
import { UmldError } from "./errors.js";

/** Linux sun_path is 108 bytes including the NUL. */
export const MAX_SOCKET_PATH = 107;

/** Where everything of one daemon lives. Instance files are keyed by id, never by a user-given name. */
export class StatePaths {
  readonly root: string;
  constructor(root: string) {
    this.root = resolve(root);
    // the longest socket: <root>/instances/<16 hex>/run/<16 hex>/mconsole (UML's uml_dir/umid/mconsole, in its jail)
    const longest = join(this.root, "instances", "x".repeat(16), "run", "x".repeat(16), "mconsole");
    if (Buffer.byteLength(longest) > MAX_SOCKET_PATH) {
      throw new UmldError("host_error", `state dir path too long for unix sockets (${longest.length} > ${MAX_SOCKET_PATH} bytes)`, {
        stateDir: this.root,
      });
    }
  }
  get db(): string {
    return join(this.root, "umld.db");
  }
  get socket(): string {
    return join(this.root, "umld.sock");
  }
  get adminToken(): string {
    return join(this.root, "admin.token");
  }
  /** good for GET /metrics only: give it to Prometheus */
  get metricsToken(): string {
    return join(this.root, "metrics.token");
  }
  get images(): string {
    return join(this.root, "images");
  }
  get instances(): string {
    return join(this.root, "instances");
  }
  get disks(): string {
    return join(this.root, "disks");
  }
  get kernels(): string {
    return join(this.root, "kernels");
  }
  get networks(): string {
    return join(this.root, "net");
  }
  /** Every jail's root is mounted here, each in its own mount namespace: on the host it stays an empty directory. */
  get jailRoot(): string {
    return join(this.root, "jail");
  }
  /** The uml_dir of guests started before they ran unprivileged (adopted ones may still use it). */
  get umlRun(): string {
    return join(this.root, "run");
  }
  instanceDir(id: string): string {
    return join(this.instances, id);
  }
  /**
   * uml_dir, inside the guest's jail only: a private tmpfs of its own (with its
   * RAM file), where UML makes <umid>/{pid,mconsole}. Nothing on the host is
   * the guest's to write but its disks.
   */
  umlDir(id: string): string {
    return join(this.instances, id, "run");
  }
  /** The guest's mconsole socket, as a path inside its jail (reach it through /proc/<pid>/root). */
  mconsoleSocket(id: string): string {
    return join(this.umlDir(id), id, "mconsole");
  }
}

/** Files of one instance directory. */
export function instanceFiles(dir: string) {
  return {
    dir,
    /** root-owned 0711: the sockets the daemon binds and the guest sends to (its own); bound into the jail */
    sockDir: join(dir, "sock"),
    notifySocket: join(dir, "sock", "notify.sock"),
    mconsoleClient: join(dir, "sock", "mconsole-client.sock"),
    consoleIn: join(dir, "console.in"),
    consoleOut: join(dir, "console.out"),
    consoleLog: join(dir, "console.log"),
    stderrLog: join(dir, "uml.stderr.log"),
    rootCow: join(dir, "disk0.cow"),
  };
}
export type InstanceFiles = ReturnType<typeof instanceFiles>;

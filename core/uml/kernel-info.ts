import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export const DEFAULT_KERNEL_PATH = "/usr/bin/linux.uml";

/** `linux.uml --version` prints the release (e.g. 6.1.176) and exits without booting. */
export async function readKernelVersion(path: string): Promise<string> {
  const { stdout } = await run(path, ["--version"], { timeout: 10_000 });
  const v = stdout.trim().split("\n")[0] ?? "";
  if (!/^\d+\.\d+[\w.+-]*$/.test(v)) throw new Error(`unexpected --version output from ${path}: ${JSON.stringify(v)}`);
  return v;
}

import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export const DEFAULT_KERNEL_PATH = "/usr/bin/linux.uml";

/** How a kernel binary is asked about itself: directly (the installed default), or in a jail (anything registered). */
export type KernelRunner = (path: string, args: string[]) => Promise<string>;

export const runDirectly: KernelRunner = async (path, args) => (await run(path, args, { timeout: 10_000 })).stdout;

/** `linux.uml --version` prints the release (e.g. 6.1.176) and exits without booting. */
export async function readKernelVersion(path: string, runner: KernelRunner = runDirectly): Promise<string> {
  const stdout = await runner(path, ["--version"]);
  const v = stdout.trim().split("\n")[0] ?? "";
  if (!/^\d+\.\d+[\w.+-]*$/.test(v)) throw new Error(`unexpected --version output from ${path}: ${JSON.stringify(v)}`);
  return v;
}

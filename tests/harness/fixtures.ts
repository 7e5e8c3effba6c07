import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { layoutBusyboxRoot } from "../../core/storage/busybox-image.js";
import { REPO, type TestDaemon } from "./daemon.js";

/**
 * A broken kernel for upgrade and rollback tests (tests/fixtures/fake-kernel.c): it registers
 * like UML, then panics (UML's PANIC notification, then abort) or never comes up. A compiled
 * binary, static: kernels run in the guest's jail, where there is no shell to run a script.
 */
export function fakeKernel(dir: string, mode: "panics" | "hangs" | "spies", spyFile = "/tmp/umld-kernel-spy"): string {
  const out = `${dir}/linux-${mode}`;
  execFileSync("cc", ["-O2", "-static", `-D${mode.toUpperCase()}`, `-DSPY_FILE="${spyFile}"`, "-o", out, `${REPO}tests/fixtures/fake-kernel.c`]);
  return out;
}

/** An image whose init exits at once: the real kernel panics ("Attempted to kill init!") at every boot. */
export async function panickingImage(d: TestDaemon, name: string): Promise<void> {
  const dir = mkdtempSync("/tmp/umld-img-");
  try {
    await layoutBusyboxRoot(`${dir}/root`);
    rmSync(`${dir}/root/sbin/init`, { force: true });
    writeFileSync(`${dir}/root/sbin/init`, "#!/bin/sh\nexit 1\n", { mode: 0o755 });
    // readiness notify: a start waits for a ready signal that never comes, so the panic fails it
    const r = await d.api("POST", "/v1/images", { name, source: { type: "dir", path: `${dir}/root` }, readiness: "notify" });
    if (r.status !== 201) throw new Error(`importing ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * bench/netbench.c built static (the image has no libc) and an image with it
 * in /bin: a traffic tool that measures the network, not the guest's shell
 * tools. Returns the host-side binary too (the same tool for namespaces).
 */
export async function netbenchImage(d: TestDaemon, name: string, dir: string): Promise<string> {
  const tool = `${dir}/netbench`;
  execFileSync("cc", ["-O2", "-static", "-Wall", "-Wextra", "-Werror", "-o", tool, `${REPO}bench/netbench.c`]);
  chmodSync(dir, 0o755); // run from namespaces and by the test as root; nothing secret here
  const root = mkdtempSync(`${dir}/root-`);
  await layoutBusyboxRoot(root);
  execFileSync("cp", [tool, `${root}/bin/netbench`]);
  const r = await d.api("POST", "/v1/images", { name, source: { type: "dir", path: root }, readiness: "notify" });
  rmSync(root, { recursive: true, force: true });
  if (r.status !== 201) throw new Error(`importing ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  return tool;
}

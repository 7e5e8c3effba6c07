import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { buildBusyboxImage } from "./busybox-image.js";
import { configureDebianRoot, DEBIAN_SUITE, debootstrap } from "./debian-image.js";
import { importImage, type ImportProgress } from "./image-import.js";

export type Recipe = "busybox" | "debian";

/** Writes a built-in image to `path`: busybox, or a minimal Debian made with debootstrap (in a work dir under `workDir`). */
export async function buildRecipeImage(recipe: Recipe, path: string, name: string, sizeMiB: number | undefined, workDir: string, progress: ImportProgress): Promise<void> {
  if (recipe === "busybox") {
    progress({ done: 0, total: 1, unit: "steps", step: "busybox" });
    await buildBusyboxImage(path, sizeMiB ?? 64);
    progress({ done: 1, total: 1, unit: "steps", step: "done" });
    return;
  }
  const work = mkdtempSync(join(workDir, ".debian-"));
  try {
    let steps = 0;
    await debootstrap(join(work, "root"), (line) => progress({ done: ++steps, total: null, unit: "steps", step: line.slice(0, 60) }));
    configureDebianRoot(join(work, "root"));
    await importImage({ type: "dir", path: join(work, "root") }, path, name, sizeMiB, (p) => progress({ ...p, done: steps + p.done, total: null }), { stateDir: null });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** What an image built from a recipe says it came from. */
export function recipeSource(recipe: Recipe): string {
  return recipe === "debian" ? `debian ${DEBIAN_SUITE} (debootstrap minbase)` : "busybox-static";
}

import { execFile } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { promisify } from "node:util";
import { join } from "node:path";
import type { ImageView, KernelView } from "../../protocol/images.js";
import { UmldError } from "../errors.js";
import type { CatalogRepo, ImageRow, KernelRow } from "../store/catalog-repo.js";
import { newId, nowIso } from "../util/ids.js";
import { DEFAULT_KERNEL_PATH, readKernelVersion, runDirectly, type KernelRunner } from "../uml/kernel-info.js";
import { buildBusyboxImage } from "./busybox-image.js";
import { sha256File } from "./hash.js";
import { importImage, type ImportProgress, type ImportSource } from "./image-import.js";
import { configureDebianRoot, debootstrap, DEBIAN_SUITE } from "./debian-image.js";
import { allocatedBytes } from "../util/fs.js";


const run = promisify(execFile);

export const DEFAULT_IMAGE_NAME = "busybox";
export const DEFAULT_KERNEL_NAME = "default";

/** Kernels and images: registration at start, lookups by name. */
export class Catalog {
  constructor(
    private readonly repo: CatalogRepo,
    private readonly imagesDir: string,
    private readonly kernelsDir: string,
    /** how a registered kernel is asked for --version and --help: in a jail, never as root */
    private readonly probeKernel: KernelRunner = runDirectly,
  ) {}

  /**
   * Copies a kernel binary into the store (so later changes to the source file
   * do not change what guests boot) and registers it: version as the binary
   * reports it, sha256, size. A file that does not answer --version and --help
   * like UML is refused.
   */
  async registerKernel(requestedName: string | undefined, sourcePath: string, makeDefault: boolean): Promise<KernelView> {
    let name = requestedName ?? "";
    if (requestedName !== undefined && this.repo.kernelByName(requestedName)) throw new UmldError("kernel_exists", `a kernel named '${name}' already exists`, { kernel: name });
    let st;
    try {
      st = statSync(sourcePath);
    } catch {
      throw new UmldError("not_a_uml_kernel", `no file at ${sourcePath}`, { path: sourcePath });
    }
    if (!st.isFile()) throw new UmldError("not_a_uml_kernel", `not a regular file: ${sourcePath}`, { path: sourcePath });
    const id = newId();
    const dir = join(this.kernelsDir, id);
    const path = join(dir, "linux");
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    chmodSync(dir, 0o711); // unprivileged guests exec the kernel: traverse, no listing
    try {
      copyFileSync(sourcePath, path);
      chmodSync(path, 0o555);
      let version: string;
      try {
        version = await readKernelVersion(path, this.probeKernel);
        const help = await this.probeKernel(path, ["--help"]);
        if (!/^User Mode Linux/.test(help)) throw new Error("--help does not start with 'User Mode Linux'");
      } catch (e) {
        throw new UmldError("not_a_uml_kernel", `${sourcePath} is not a UML kernel: ${(e as Error).message.split("\n")[0]}`, { path: sourcePath });
      }
      const copied = statSync(path);
      const sha256 = await sha256File(path);
      if (requestedName === undefined) {
        name = `k-${version.toLowerCase().replace(/[^a-z0-9]+/g, "-")}-${sha256.slice(0, 8)}`.slice(0, 63).replace(/-+$/, "");
        if (this.repo.kernelByName(name)) throw new UmldError("kernel_exists", `this binary is registered already as '${name}'`, { kernel: name });
      }
      const row: KernelRow = {
        id, name, path, version, sha256, size_bytes: copied.size,
        mtime_ms: Math.floor(copied.mtimeMs), is_default: 0, created_at: nowIso(),
      };
      this.repo.insertKernel(row);
      if (makeDefault) this.repo.setDefaultKernel(id);
      return this.listKernels().find((k) => k.name === name)!;
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Deletes a kernel no instance uses; the store copy goes too (never a file outside the store). */
  deleteKernel(name: string, usedBy: (kernelId: string) => string[]): void {
    const k = this.kernel(name);
    if (k.is_default) throw new UmldError("kernel_in_use", `'${name}' is the default kernel`, { kernel: name, default: true });
    const users = usedBy(k.id);
    if (users.length) throw new UmldError("kernel_in_use", `kernel '${name}' is used by ${users.join(", ")}`, { kernel: name, instances: users });
    this.repo.deleteKernel(k.id);
    if (k.path.startsWith(this.kernelsDir + "/")) rmSync(join(this.kernelsDir, k.id), { recursive: true, force: true });
  }

  /** Registers the installed linux.uml as the default kernel; re-reads version and sha256 only when the file changed. */
  async ensureDefaultKernel(path = DEFAULT_KERNEL_PATH): Promise<KernelRow> {
    if (!existsSync(path)) {
      throw new UmldError("host_error", `UML kernel not found at ${path} (install the Debian package user-mode-linux)`, { path });
    }
    const st = statSync(path);
    const existing = this.repo.kernelByName(DEFAULT_KERNEL_NAME);
    if (existing && existing.size_bytes === st.size && existing.mtime_ms === Math.floor(st.mtimeMs)) return existing;
    const [version, sha256] = await Promise.all([readKernelVersion(path), sha256File(path)]);
    if (existing) {
      this.repo.updateKernel({ id: existing.id, version, sha256, size_bytes: st.size, mtime_ms: Math.floor(st.mtimeMs) });
      return this.repo.kernelById(existing.id)!;
    }
    const row: KernelRow = {
      id: newId(), name: DEFAULT_KERNEL_NAME, path, version, sha256, size_bytes: st.size,
      mtime_ms: Math.floor(st.mtimeMs), is_default: 1, created_at: nowIso(),
    };
    this.repo.insertKernel(row);
    return row;
  }

  /** Builds the busybox image on first start (a second or so, nothing downloaded) and registers it. */
  async ensureDefaultImage(): Promise<ImageRow> {
    const existing = this.repo.imageByName(DEFAULT_IMAGE_NAME);
    if (existing && existsSync(existing.path)) return existing;
    if (existing) throw new UmldError("host_error", `default image file is missing: ${existing.path}`, { path: existing.path });
    mkdirSync(this.imagesDir, { recursive: true, mode: 0o700 });
    const path = join(this.imagesDir, `${DEFAULT_IMAGE_NAME}.ext4`);
    const built = await buildBusyboxImage(path);
    const row: ImageRow = {
      id: newId(), name: DEFAULT_IMAGE_NAME, path: built.path, size_bytes: built.sizeBytes,
      sha256: await sha256File(built.path), readiness: "notify", is_default: 1, created_at: nowIso(), kind: "built-in", source: "busybox-static",
    };
    this.repo.insertImage(row);
    return row;
  }

  image(name?: string): ImageRow {
    const row = name === undefined ? this.repo.defaultImage() : this.repo.imageByName(name);
    if (!row) throw new UmldError("image_not_found", name === undefined ? "no default image is registered" : `no image named '${name}'`, { image: name ?? null });
    return row;
  }

  kernel(name?: string): KernelRow {
    const row = name === undefined ? this.repo.defaultKernel() : this.repo.kernelByName(name);
    if (!row) throw new UmldError("kernel_not_found", name === undefined ? "no default kernel is registered" : `no kernel named '${name}'`, { kernel: name ?? null });
    return row;
  }

  imageById(id: string): ImageRow | undefined { return this.repo.imageById(id); }
  kernelById(id: string): KernelRow | undefined { return this.repo.kernelById(id); }

  /** Images with what is layered on them (`dependants(path)` names the instances and disks using the file). */
  listImages(dependants: (path: string) => string[] = () => []): ImageView[] {
    return this.repo.images().map((r) => ({
      name: r.name, path: r.path, sizeBytes: r.size_bytes, allocatedBytes: allocatedBytes(r.path), sha256: r.sha256,
      readiness: r.readiness, kind: r.kind, source: r.source, dependants: dependants(r.path), createdAt: r.created_at,
    }));
  }

  /** Imports an image (raw ext* file, directory or tar archive) and registers it sealed. */
  async importImage(name: string, source: ImportSource, readiness: "notify" | "none", sizeMiB: number | undefined, progress: ImportProgress): Promise<ImageView> {
    if (this.repo.imageByName(name)) throw new UmldError("image_exists", `an image named '${name}' already exists`, { image: name });
    mkdirSync(this.imagesDir, { recursive: true, mode: 0o700 });
    const id = newId();
    const path = join(this.imagesDir, `${id}.ext4`);
    const built = await importImage(source, path, name, sizeMiB, progress);
    try {
      this.repo.insertImage({
        id, name, path, size_bytes: built.sizeBytes, sha256: await sha256File(path), readiness, is_default: 0,
        created_at: nowIso(), kind: "imported", source: `${source.type}:${source.path}`,
      });
    } catch (e) {
      rmSync(path, { force: true });
      if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") throw new UmldError("image_exists", `an image named '${name}' already exists`, { image: name });
      throw e;
    }
    return this.listImages().find((i) => i.name === name)!;
  }

  /** Builds a built-in image under a new name: busybox, or a minimal Debian made with debootstrap. */
  async buildImage(name: string, recipe: "busybox" | "debian", sizeMiB: number | undefined, progress: ImportProgress): Promise<ImageView> {
    if (this.repo.imageByName(name)) throw new UmldError("image_exists", `an image named '${name}' already exists`, { image: name });
    mkdirSync(this.imagesDir, { recursive: true, mode: 0o700 });
    const path = join(this.imagesDir, `${newId()}.ext4`);
    if (recipe === "busybox") {
      progress({ done: 0, total: 1, unit: "steps", step: "busybox" });
      await buildBusyboxImage(path, sizeMiB ?? 64);
      progress({ done: 1, total: 1, unit: "steps", step: "done" });
    } else {
      const work = mkdtempSync(join(this.imagesDir, ".debian-"));
      try {
        let steps = 0;
        await debootstrap(join(work, "root"), (line) => progress({ done: ++steps, total: null, unit: "steps", step: line.slice(0, 60) }));
        configureDebianRoot(join(work, "root"));
        await importImage({ type: "dir", path: join(work, "root") }, path, name, sizeMiB, (p) => progress({ ...p, done: steps + p.done, total: null }));
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    }
    try {
      this.repo.insertImage({
        id: newId(), name, path, size_bytes: statSync(path).size, sha256: await sha256File(path), readiness: "notify",
        is_default: 0, created_at: nowIso(), kind: "built-in", source: recipe === "debian" ? `debian ${DEBIAN_SUITE} (debootstrap minbase)` : "busybox-static",
      });
    } catch (e) {
      rmSync(path, { force: true });
      throw e;
    }
    return this.listImages().find((i) => i.name === name)!;
  }

  /** Registers an image file umld made itself (a snapshot or a merge), already sealed. */
  async registerImageFile(name: string, path: string, kind: "snapshot" | "merged", readiness: "notify" | "none", source: string): Promise<ImageRow> {
    const row: ImageRow = {
      id: newId(), name, path, size_bytes: statSync(path).size, sha256: await sha256File(path), readiness, is_default: 0,
      created_at: nowIso(), kind, source,
    };
    this.repo.insertImage(row);
    return row;
  }

  /** Deletes an image nothing is layered on; never the default. */
  deleteImage(name: string, dependants: (path: string) => string[]): void {
    const img = this.image(name);
    if (img.is_default) throw new UmldError("image_in_use", `'${name}' is the default image`, { image: name, default: true });
    const users = dependants(img.path);
    if (users.length) throw new UmldError("image_in_use", `image '${name}' has layers on it: ${users.join(", ")}`, { image: name, dependants: users });
    this.repo.deleteImage(img.id);
    if (img.path.startsWith(this.imagesDir + "/")) rmSync(img.path, { force: true });
  }

  imagesDirectory(): string {
    return this.imagesDir;
  }

  listKernels(): KernelView[] {
    return this.repo.kernels().map((r) => ({
      name: r.name, path: r.path, version: r.version, sha256: r.sha256, sizeBytes: r.size_bytes, isDefault: r.is_default === 1, createdAt: r.created_at,
    }));
  }
}

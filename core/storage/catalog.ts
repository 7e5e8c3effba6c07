import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, statSync, type Stats } from "node:fs";
import { dirname, join } from "node:path";
import type { ImageView, KernelView } from "../../protocol/images.js";
import { UmldError } from "../errors.js";
import type { CatalogRepo, ImageRow, KernelRow } from "../store/catalog-repo.js";
import { newId, nowIso } from "../util/ids.js";
import { DEFAULT_KERNEL_PATH, readKernelVersion, runDirectly, type KernelRunner } from "../uml/kernel-info.js";
import { buildBusyboxImage } from "./busybox-image.js";
import { sha256File } from "./hash.js";
import { importImage, type ImportProgress, type ImportSource } from "./image-import.js";
import { allocatedBytes, fsyncDir } from "../util/fs.js";
import { buildRecipeImage, recipeSource } from "./recipes.js";
import { sealKernel } from "./seal.js";
import { derivedImageName, ownerOfName } from "./ownership.js";

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
    let st: Stats;
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
      sealKernel(path);
      fsyncDir(dir);
      fsyncDir(this.kernelsDir);
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
        id,
        name,
        path,
        version,
        sha256,
        size_bytes: copied.size,
        mtime_ms: Math.floor(copied.mtimeMs),
        is_default: 0,
        created_at: nowIso(),
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
    if (k.path.startsWith(`${this.kernelsDir}/`)) rmSync(join(this.kernelsDir, k.id), { recursive: true, force: true });
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
      id: newId(),
      name: DEFAULT_KERNEL_NAME,
      path,
      version,
      sha256,
      size_bytes: st.size,
      mtime_ms: Math.floor(st.mtimeMs),
      is_default: 1,
      created_at: nowIso(),
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
      id: newId(),
      name: DEFAULT_IMAGE_NAME,
      path: built.path,
      size_bytes: built.sizeBytes,
      sha256: await sha256File(built.path),
      readiness: "notify",
      is_default: 1,
      created_at: nowIso(),
      kind: "built-in",
      source: "busybox-static",
      owner: null,
      shared: 1,
      instance_id: null,
    };
    this.repo.insertImage(row);
    return row;
  }

  image(name?: string): ImageRow {
    const row = name === undefined ? this.repo.defaultImage() : this.repo.imageByName(name);
    if (!row) throw new UmldError("image_not_found", name === undefined ? "no default image is registered" : `no image named '${name}'`, { image: name ?? null });
    return row;
  }

  /**
   * An image as a tenant names it (null: the admin, by stored name). A tenant
   * sees its own images (stored as `<tenant>.<name>`, or legacy ones it owns
   * under a plain name) and, to use them, the shared catalogue; anything
   * else answers exactly like an image that does not exist.
   */
  imageFor(name: string | undefined, tenant: string | null, use: "use" | "own"): ImageRow {
    if (tenant === null) return this.image(name);
    if (name === undefined) {
      const d = this.repo.defaultImage();
      if (d && (d.shared || d.owner === tenant)) return d;
      return this.image(name);
    }
    const candidates = name.includes(".") ? [] : [this.repo.imageByName(`${tenant}.${name}`), this.repo.imageByName(name)];
    const own = candidates.find((r) => r?.owner === tenant);
    const found = own ?? (use === "use" ? candidates.find((r) => r?.shared === 1) : undefined);
    if (!found) throw new UmldError("image_not_found", `no image named '${name}'`, { image: name });
    return found;
  }

  /** Does a tenant (null: the admin) see this image? */
  visibleTo(row: Pick<ImageRow, "owner" | "shared">, tenant: string | null): boolean {
    return tenant === null || row.shared === 1 || row.owner === tenant;
  }

  /**
   * A free stored name for an image made from an instance: `<tenant>.<base>`
   * for a tenant's, `<base>` for the admin's. Only the part after the prefix is
   * ever shortened, so no image loses its owner's prefix.
   */
  freeImageName(owner: string | null, base: string): string {
    const taken = new Set(this.repo.images().map((i) => i.name));
    return derivedImageName(owner, base, (n) => taken.has(n) || (owner !== null && taken.has(ownerOfName(n).name)));
  }

  kernel(name?: string): KernelRow {
    const row = name === undefined ? this.repo.defaultKernel() : this.repo.kernelByName(name);
    if (!row) throw new UmldError("kernel_not_found", name === undefined ? "no default kernel is registered" : `no kernel named '${name}'`, { kernel: name ?? null });
    return row;
  }

  imageById(id: string): ImageRow | undefined {
    return this.repo.imageById(id);
  }
  kernelById(id: string): KernelRow | undefined {
    return this.repo.kernelById(id);
  }

  /** Images with what is layered on them (`dependants(path)` names the instances and disks using the file). */
  /** Every image row (owners included), for the daemon's own bookkeeping. */
  imageRows(): ImageRow[] {
    return this.repo.images();
  }

  listImages(dependants: (path: string) => string[] = () => []): ImageView[] {
    return this.repo.images().map((r) => ({
      name: r.name,
      path: r.path,
      sizeBytes: r.size_bytes,
      allocatedBytes: allocatedBytes(r.path),
      sha256: r.sha256,
      readiness: r.readiness,
      kind: r.kind,
      source: r.source,
      owner: r.owner,
      shared: r.shared === 1,
      dependants: dependants(r.path),
      createdAt: r.created_at,
    }));
  }

  /** Imports an image (raw ext* file, directory or tar archive) and registers it sealed. */
  async importImage(name: string, source: ImportSource, readiness: "notify" | "none", sizeMiB: number | undefined, progress: ImportProgress): Promise<ImageView> {
    if (this.repo.imageByName(name)) throw new UmldError("image_exists", `an image named '${name}' already exists`, { image: name });
    mkdirSync(this.imagesDir, { recursive: true, mode: 0o700 });
    const id = newId();
    const path = join(this.imagesDir, `${id}.ext4`);
    const built = await importImage(source, path, name, sizeMiB, progress, { stateDir: dirname(this.imagesDir) });
    try {
      this.repo.insertImage({
        id,
        name,
        path,
        size_bytes: built.sizeBytes,
        sha256: await sha256File(path),
        readiness,
        is_default: 0,
        created_at: nowIso(),
        kind: "imported",
        source: `${source.type}:${source.path}`,
        owner: null,
        shared: 1,
        instance_id: null,
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
    await buildRecipeImage(recipe, path, name, sizeMiB, this.imagesDir, progress);
    try {
      this.repo.insertImage({
        id: newId(),
        name,
        path,
        size_bytes: statSync(path).size,
        sha256: await sha256File(path),
        readiness: "notify",
        is_default: 0,
        created_at: nowIso(),
        kind: "built-in",
        source: recipeSource(recipe),
        owner: null,
        shared: 1,
        instance_id: null,
      });
    } catch (e) {
      rmSync(path, { force: true });
      throw e;
    }
    return this.listImages().find((i) => i.name === name)!;
  }

  /**
   * Registers an image file umld made itself (a snapshot, a clone base, a
   * merge), already sealed and on disk: under `name`, or under a free name
   * derived from `base` and the owner, chosen in the same step as the insert.
   */
  async registerImageFile(
    f: ({ name: string } | { base: string }) & {
      path: string;
      kind: "snapshot" | "merged" | "imported";
      readiness: "notify" | "none";
      source: string;
      owner: string | null;
      shared: boolean;
      instanceId: string | null;
    },
  ): Promise<ImageRow> {
    const sha256 = await sha256File(f.path);
    const name = "name" in f ? f.name : this.freeImageName(f.owner, f.base);
    const row: ImageRow = {
      id: newId(),
      name,
      path: f.path,
      size_bytes: statSync(f.path).size,
      sha256,
      readiness: f.readiness,
      is_default: 0,
      created_at: nowIso(),
      kind: f.kind,
      source: f.source,
      owner: f.owner,
      shared: f.shared ? 1 : 0,
      instance_id: f.instanceId,
    };
    try {
      this.repo.insertImage(row);
    } catch (e) {
      if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") throw new UmldError("image_exists", `an image named '${name}' already exists`, { image: name });
      throw e;
    }
    return row;
  }

  imageExists(stored: string): boolean {
    return this.repo.imageByName(stored) !== undefined;
  }

  /** Instances whose root disk a rebase is moving onto this file. */
  pendingOn(path: string): string[] {
    return this.repo.pendingOn(path);
  }

  /** The instance an image is deleted with (null: none; it stays, owned and counted). */
  setMadeFor(imageId: string, instanceId: string | null): void {
    this.repo.setMadeFor(imageId, instanceId);
  }

  /** Images made for an instance: its snapshots' and its clone base. */
  madeFor(instanceId: string): ImageRow[] {
    return this.repo.madeFor(instanceId);
  }

  /**
   * Deletes an image (by stored name) nothing is layered on; never the
   * default, never a snapshot's image (delete the snapshot), never one a
   * rebase is moving a disk onto.
   */
  deleteImage(name: string, dependants: (path: string) => string[]): void {
    this.deleteImageRow(this.image(name), dependants);
  }

  deleteImageRow(img: ImageRow, dependants: (path: string) => string[]): void {
    const name = img.name;
    if (img.is_default) throw new UmldError("image_in_use", `'${name}' is the default image`, { image: name, default: true });
    const users = [...dependants(img.path), ...this.repo.pendingOn(img.path)];
    if (users.length) throw new UmldError("image_in_use", `image '${name}' has layers on it: ${users.join(", ")}`, { image: name, dependants: users });
    const snaps = this.repo.snapshotsOf(img.id);
    if (snaps.length) {
      const which = snaps.map((s) => `${s.instance}/${s.snapshot}`);
      throw new UmldError("image_in_use", `image '${name}' holds snapshot ${which.join(", ")}; delete the snapshot instead`, { image: name, snapshots: which });
    }
    this.repo.deleteImage(img.id);
    if (img.path.startsWith(`${this.imagesDir}/`)) rmSync(img.path, { force: true });
  }

  imagesDirectory(): string {
    return this.imagesDir;
  }

  listKernels(): KernelView[] {
    return this.repo.kernels().map((r) => ({
      name: r.name,
      path: r.path,
      version: r.version,
      sha256: r.sha256,
      sizeBytes: r.size_bytes,
      isDefault: r.is_default === 1,
      createdAt: r.created_at,
    }));
  }
}

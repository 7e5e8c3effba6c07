import { closeSync, existsSync, fstatSync, openSync, readSync, realpathSync, constants } from "node:fs";

/**
 * What a dynamically linked binary needs in a jail: its ELF interpreter and
 * the shared libraries it (and they) name, found by reading the ELF headers.
 * Never by running `ldd`: that executes the binary's interpreter as root, and
 * a kernel registered by an admin is not trusted code.
 */
export interface JailFile {
  /** the file on the host (every symlink resolved) */
  source: string;
  /** where the binary looks for it (inside the jail) */
  at: string;
}

/** Where the loader looks when there is no ld.so.cache (the jail has none). */
export const LIBRARY_DIRS = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"];

const ELF_MAGIC = 0x464c457f;
const PT_INTERP = 3;
const PT_DYNAMIC = 2;
const PT_LOAD = 1;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const MAX_HEADER_BYTES = 4 * 1024 * 1024;

interface ElfFacts {
  interp: string | null;
  needed: string[];
}

function readAt(fd: number, offset: number, length: number): Buffer {
  if (length < 0 || length > MAX_HEADER_BYTES) throw new Error(`ELF structure too large (${length} bytes)`);
  const b = Buffer.alloc(length);
  const n = readSync(fd, b, 0, length, offset);
  if (n !== length) throw new Error("truncated ELF file");
  return b;
}

/** PT_INTERP and DT_NEEDED of a 64-bit little-endian ELF file (x86_64, aarch64). */
export function readElf(path: string): ElfFacts {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const size = fstatSync(fd).size;
    const eh = readAt(fd, 0, 64);
    if (eh.readUInt32LE(0) !== ELF_MAGIC || eh[4] !== 2 || eh[5] !== 1) throw new Error("not a 64-bit little-endian ELF file");
    const phoff = Number(eh.readBigUInt64LE(32));
    const phentsize = eh.readUInt16LE(54);
    const phnum = eh.readUInt16LE(56);
    if (phentsize < 56 || phoff + phentsize * phnum > size) throw new Error("bad program headers");
    const ph = readAt(fd, phoff, phentsize * phnum);
    let interp: string | null = null;
    let dynamic: { offset: number; size: number } | null = null;
    const loads: Array<{ vaddr: number; offset: number; filesz: number }> = [];
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      const type = ph.readUInt32LE(o);
      const offset = Number(ph.readBigUInt64LE(o + 8));
      const vaddr = Number(ph.readBigUInt64LE(o + 16));
      const filesz = Number(ph.readBigUInt64LE(o + 32));
      if (type === PT_INTERP) interp = readAt(fd, offset, Math.min(filesz, 4096)).toString("latin1").replace(/\0.*$/s, "");
      else if (type === PT_DYNAMIC) dynamic = { offset, size: filesz };
      else if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
    }
    const needed: string[] = [];
    if (dynamic) {
      const dyn = readAt(fd, dynamic.offset, dynamic.size);
      const neededOffsets: number[] = [];
      let strtabVaddr = -1;
      for (let o = 0; o + 16 <= dyn.length; o += 16) {
        const tag = Number(dyn.readBigInt64LE(o));
        const val = Number(dyn.readBigUInt64LE(o + 8));
        if (tag === 0) break;
        if (tag === DT_NEEDED) neededOffsets.push(val);
        if (tag === DT_STRTAB) strtabVaddr = val;
      }
      if (neededOffsets.length) {
        const seg = loads.find((l) => strtabVaddr >= l.vaddr && strtabVaddr < l.vaddr + l.filesz);
        if (!seg) throw new Error("string table outside the loaded segments");
        const strtabOffset = seg.offset + (strtabVaddr - seg.vaddr);
        for (const off of neededOffsets) {
          const raw = readAt(fd, strtabOffset + off, Math.min(256, size - (strtabOffset + off)));
          needed.push(raw.toString("latin1").replace(/\0.*$/s, ""));
        }
      }
    }
    return { interp, needed };
  } finally {
    closeSync(fd);
  }
}

/** A library name as the loader may take it: a plain file name, nothing that walks directories. */
const LIB_NAME = /^[A-Za-z0-9_.+-]+\.so(\.[0-9]+)*$/;

/**
 * The interpreter and every shared library, transitively, as host files and
 * the jail paths they must appear at. Throws when something cannot be found
 * or does not look like a library name.
 */
export function jailFilesFor(binary: string, dirs: readonly string[] = LIBRARY_DIRS): JailFile[] {
  const out = new Map<string, JailFile>();
  const add = (at: string) => {
    if (out.has(at)) return null;
    const f = { source: realpathSync(at), at };
    out.set(at, f);
    return f;
  };
  const first = readElf(realpathSync(binary));
  const queue: string[] = [];
  if (first.interp) {
    if (!first.interp.startsWith("/") || first.interp.includes("..")) throw new Error(`unusual ELF interpreter '${first.interp}'`);
    if (!existsSync(first.interp)) throw new Error(`ELF interpreter ${first.interp} is not on this host`);
    add(first.interp);
  }
  queue.push(...first.needed);
  while (queue.length) {
    const name = queue.shift()!;
    if (!LIB_NAME.test(name)) throw new Error(`unusual library name '${name}'`);
    const dir = dirs.find((d) => existsSync(`${d}/${name}`));
    if (!dir) throw new Error(`library ${name} not found in ${dirs.join(", ")}`);
    const f = add(`${dir}/${name}`);
    if (f) queue.push(...readElf(f.source).needed);
  }
  return [...out.values()];
}

import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { open, unlink } from "node:fs/promises";

/** Zero runs are skipped (left as holes) at this granularity. */
const BLOCK = 64 * 1024;
const ZEROS = Buffer.alloc(BLOCK);

/**
 * Writes a file received from another host to `dest` (a path this host
 * chose, created new: never an existing file, never through a symlink),
 * leaving all-zero blocks as holes so a sparse COW stays sparse. It must be
 * exactly `size` bytes with this sha256, or it is removed and refused.
 */
export async function receiveFile(body: AsyncIterable<Buffer | Uint8Array>, dest: string, size: number, sha256: string): Promise<void> {
  await unlink(dest).catch(() => {}); // an earlier try's
  const fh = await open(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  const hash = createHash("sha256");
  let at = 0;
  let pending = Buffer.alloc(0);
  const flush = async (b: Buffer) => {
    for (let off = 0; off < b.length; off += BLOCK) {
      const part = b.subarray(off, Math.min(off + BLOCK, b.length));
      if (!part.equals(ZEROS.subarray(0, part.length))) await fh.write(part, 0, part.length, at + off);
    }
    at += b.length;
  };
  try {
    for await (const chunk of body) {
      const c = Buffer.from(chunk);
      hash.update(c);
      if (at + pending.length + c.length > size) throw new Error(`more than the ${size} bytes announced`);
      pending = pending.length ? Buffer.concat([pending, c]) : c;
      if (pending.length >= BLOCK * 16) {
        const whole = pending.length - (pending.length % BLOCK);
        await flush(pending.subarray(0, whole));
        pending = Buffer.from(pending.subarray(whole));
      }
    }
    await flush(pending);
    if (at !== size) throw new Error(`${at} bytes received, ${size} announced`);
    const got = hash.digest("hex");
    if (got !== sha256) throw new Error(`sha256 ${got} received, ${sha256} announced`);
    await fh.truncate(size);
    await fh.sync();
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(dest).catch(() => {});
    throw e;
  }
}

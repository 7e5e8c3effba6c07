import { createHash, type Hash } from "node:crypto";
import { constants } from "node:fs";
import { type FileHandle, open, unlink } from "node:fs/promises";
import { native } from "../native.js";

/**
 * How a disk file travels between hosts: only the parts that hold data (the
 * filesystem's extents, SEEK_DATA/SEEK_HOLE), as frames `[u64 offset][u32
 * length][bytes]` in ascending order, ended by a frame of length 0. Holes are
 * never read nor sent; the receiver leaves them holes (same size, sparse).
 * Both sides hash the logical content (zeros fed to the hash for holes), so the
 * digest is the file's plain sha256: an image's catalog sha256 checks it too.
 */
const FRAME_HEAD = 12;
/** Bytes read, and at most sent, per frame. */
const READ = 1024 * 1024;
const ZEROS = Buffer.alloc(READ);

export type Range = readonly [start: number, end: number];

/** Feeds `n` zero bytes to a hash (a hole, never read from disk). */
function hashZeros(hash: Hash, n: number): void {
  for (; n > 0; n -= READ) hash.update(ZEROS.subarray(0, Math.min(n, READ)));
}

/** A file opened for sending: its size and the parts holding data. */
export interface Source {
  fh: FileHandle;
  size: number;
  extents: Range[];
}

export async function openSource(path: string): Promise<Source> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const size = (await fh.stat()).size;
    return { fh, size, extents: native.dataExtents(fh.fd) };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** Bytes the extents hold (what a transfer sends, headers aside). */
export const dataBytes = (src: Source): number => src.extents.reduce((n, [a, b]) => n + (b - a), 0);

/** Reads each extent in steps of at most READ bytes: (offset, bytes), the buffer reused. */
async function* readExtents(src: Source): AsyncGenerator<[number, Buffer]> {
  const buf = Buffer.alloc(READ);
  for (const [start, end] of src.extents) {
    for (let pos = start; pos < end; ) {
      const { bytesRead } = await src.fh.read(buf, 0, Math.min(READ, end - pos), pos);
      if (bytesRead === 0) throw new Error("the file shrank while it was read");
      yield [pos, buf.subarray(0, bytesRead)];
      pos += bytesRead;
    }
  }
}

/** The file's sha256, reading its extents only (holes hashed as the zeros they read as). */
export async function sourceSha256(src: Source): Promise<string> {
  const hash = createHash("sha256");
  let at = 0;
  for await (const [pos, data] of readExtents(src)) {
    hashZeros(hash, pos - at);
    hash.update(data);
    at = pos + data.length;
  }
  hashZeros(hash, src.size - at);
  return hash.digest("hex");
}

function frameHead(offset: number, length: number): Buffer {
  const h = Buffer.alloc(FRAME_HEAD);
  h.writeBigUInt64BE(BigInt(offset), 0);
  h.writeUInt32BE(length, 8);
  return h;
}

/** The extent stream of a file, as buffers to send; `onBytes` counts the data bytes. */
export async function* encodeExtents(src: Source, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const [pos, data] of readExtents(src)) {
    yield frameHead(pos, data.length);
    yield Buffer.from(data); // a copy: the read buffer is reused
    onBytes(data.length);
  }
  yield frameHead(0, 0);
}

/**
 * Writes an extent stream received from another host to `dest` (a path this
 * host chose, created new: never an existing file, never through a symlink),
 * its gaps left as holes. It must describe exactly `size` bytes whose sha256 is
 * `sha256`, its frames ascending and inside the size, or it is removed and refused.
 */
export async function receiveFile(body: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer>, dest: string, size: number, sha256: string): Promise<void> {
  await unlink(dest).catch(() => {}); // an earlier try's
  const fh = await open(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  const hash = createHash("sha256");
  let at = 0; // the logical content hashed up to here
  let pending = Buffer.alloc(0);
  let frame: { at: number; left: number } | null = null;
  let ended = false;
  try {
    for await (const chunk of body) {
      if (ended) throw new Error("data after the end of the stream");
      pending = pending.length ? Buffer.concat([pending, Buffer.from(chunk)]) : Buffer.from(chunk);
      for (;;) {
        if (frame) {
          if (pending.length === 0) break;
          const n = Math.min(frame.left, pending.length);
          await fh.write(pending, 0, n, frame.at);
          hash.update(pending.subarray(0, n));
          frame.at += n;
          frame.left -= n;
          at = frame.at;
          pending = pending.subarray(n);
          if (frame.left === 0) frame = null;
          continue;
        }
        if (pending.length < FRAME_HEAD) break;
        const offset = Number(pending.readBigUInt64BE(0));
        const length = pending.readUInt32BE(8);
        pending = pending.subarray(FRAME_HEAD);
        if (length === 0) {
          if (pending.length) throw new Error("data after the end of the stream");
          ended = true;
          break;
        }
        if (length > READ || offset < at || offset + length > size) throw new Error("an extent out of order or outside the announced size");
        hashZeros(hash, offset - at);
        frame = { at: offset, left: length };
      }
    }
    if (!ended) throw new Error("the stream ended early");
    hashZeros(hash, size - at);
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

/**
 * mconsole wire format (host-endian, little-endian on x86_64).
 * Request: magic 0xCAFEBABE, version 2, len (< 512), data; sent as the full 524-byte struct.
 * Reply:   err (int32), more (u32), len (u32, includes the NUL), data.
 */
export const MCONSOLE_MAGIC = 0xcafebabe;
export const MCONSOLE_VERSION = 2;
export const MCONSOLE_MAX_DATA = 512;
export const MCONSOLE_REQUEST_SIZE = 12 + MCONSOLE_MAX_DATA;

export function encodeRequest(command: string): Buffer {
  const data = Buffer.from(command, "ascii");
  if (data.length >= MCONSOLE_MAX_DATA) throw new RangeError(`mconsole command too long (${data.length} >= 512 bytes)`);
  if (!/^[\x20-\x7e]*$/.test(command)) throw new RangeError("mconsole command must be printable ASCII");
  const buf = Buffer.alloc(MCONSOLE_REQUEST_SIZE);
  buf.writeUInt32LE(MCONSOLE_MAGIC, 0);
  buf.writeUInt32LE(MCONSOLE_VERSION, 4);
  buf.writeUInt32LE(data.length, 8);
  data.copy(buf, 12);
  return buf;
}

export interface ReplyPacket {
  err: number;
  more: boolean;
  text: string;
}

export function decodeReply(buf: Buffer): ReplyPacket {
  if (buf.length < 12) {
    // a "version 0" raw text answer (bad magic) has no header
    return { err: 1, more: false, text: buf.toString("latin1") };
  }
  const err = buf.readInt32LE(0);
  const more = buf.readUInt32LE(4) !== 0;
  const len = Math.min(buf.readUInt32LE(8), buf.length - 12);
  let end = 12 + len;
  if (len > 0 && buf[end - 1] === 0) end -= 1; // drop the terminating NUL
  return { err, more, text: buf.toString("latin1", 12, end) };
}

/** Reassembles a multi-part reply: text of every packet until more == 0; the error is the first packet's. */
export class ReplyAssembler {
  private parts: string[] = [];
  private err: number | null = null;

  /** Returns the full reply when the last packet arrived, else null. */
  push(p: ReplyPacket): { err: number; text: string } | null {
    if (this.err === null) this.err = p.err;
    this.parts.push(p.text);
    if (p.more) return null;
    const out = { err: this.err, text: this.parts.join("") };
    this.parts = [];
    this.err = null;
    return out;
  }
}

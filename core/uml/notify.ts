/**
 * UML notify messages (mconsole=notify:PATH): 16-byte header magic, version,
 * type, len + payload; uml_watchdog's HANG uses a 24-byte 64-bit layout.
 */
export type NotifyMessage = { type: "socket"; mconsolePath: string } | { type: "panic"; message: string } | { type: "hang" } | { type: "user"; text: string } | { type: "unknown"; raw: Buffer };

const MAGIC = 0xcafebabe;

export function decodeNotify(buf: Buffer): NotifyMessage {
  if (buf.length === 24 && buf.readUInt32LE(0) === MAGIC && buf.readUInt32LE(4) === 0 && buf.readUInt32LE(12) === 2) {
    return { type: "hang" };
  }
  if (buf.length < 16 || buf.readUInt32LE(0) !== MAGIC) return { type: "unknown", raw: buf };
  const type = buf.readUInt32LE(8);
  const len = Math.min(buf.readUInt32LE(12), buf.length - 16);
  const payload = buf.subarray(16, 16 + len);
  const text = (trimNul: boolean) => {
    const end = trimNul && payload.length > 0 && payload[payload.length - 1] === 0 ? payload.length - 1 : payload.length;
    return payload.toString("utf8", 0, end);
  };
  switch (type) {
    case 0:
      return { type: "socket", mconsolePath: text(true) };
    case 1:
      return { type: "panic", message: text(true) };
    case 2:
      return { type: "hang" };
    case 3:
      return { type: "user", text: text(false) };
    default:
      return { type: "unknown", raw: buf };
  }
}

/** Test helper and documentation of the layout: what the kernel sends. */
export function encodeNotify(type: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(16 + payload.length);
  b.writeUInt32LE(MAGIC, 0);
  b.writeUInt32LE(2, 4);
  b.writeUInt32LE(type, 8);
  b.writeUInt32LE(payload.length, 12);
  payload.copy(b, 16);
  return b;
}

/** What the default image's init writes to /proc/mconsole when it is ready. */
export const READY_NOTIFY_TEXT = "umld:ready";
/** The marker the default image prints on its console at the same moment. */
export const READY_CONSOLE_MARKER = "umld: guest ready";

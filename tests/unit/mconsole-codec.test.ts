import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeReply, encodeRequest, MCONSOLE_REQUEST_SIZE, ReplyAssembler } from "../../core/uml/mconsole/codec.js";
import { decodeNotify, encodeNotify } from "../../core/uml/notify.js";

const reply = (err: number, more: number, text: string, nul = true) => {
  const data = Buffer.from(text + (nul ? "\0" : ""), "latin1");
  const b = Buffer.alloc(12 + data.length);
  b.writeInt32LE(err, 0);
  b.writeUInt32LE(more, 4);
  b.writeUInt32LE(data.length, 8);
  data.copy(b, 12);
  return b;
};

describe("mconsole codec", () => {
  it("encodes the full 524-byte request, host-endian, as in the reference example", () => {
    const b = encodeRequest("version");
    assert.equal(b.length, MCONSOLE_REQUEST_SIZE);
    assert.equal(b.subarray(0, 19).toString("hex"), "bebafeca02000000070000007665727369 6f6e".replace(" ", ""));
    assert.ok(b.subarray(19).every((x) => x === 0));
  });

  it("refuses commands of 512 bytes or more and non-printable text", () => {
    assert.throws(() => encodeRequest("x".repeat(512)), RangeError);
    assert.doesNotThrow(() => encodeRequest("x".repeat(511)));
    assert.throws(() => encodeRequest("log a\nb"), RangeError);
  });

  it("decodes replies, dropping the NUL; a negative errno is an error", () => {
    assert.deepEqual(decodeReply(reply(0, 0, "Linux (none) 6.1.176")), { err: 0, more: false, text: "Linux (none) 6.1.176" });
    assert.deepEqual(decodeReply(reply(-22, 0, "Device is already configured")), { err: -22, more: false, text: "Device is already configured" });
    assert.deepEqual(decodeReply(reply(0, 0, "")), { err: 0, more: false, text: "" });
    // a version-0 raw text answer has no header
    assert.equal(decodeReply(Buffer.from("ERR V")).err, 1);
  });

  it("joins multi-part replies until more == 0; the error is the first packet's", () => {
    const a = new ReplyAssembler();
    assert.equal(a.push(decodeReply(reply(0, 1, "\n"))), null);
    assert.equal(a.push(decodeReply(reply(0, 1, "part one "))), null);
    assert.deepEqual(a.push(decodeReply(reply(0, 0, "two"))), { err: 0, text: "\npart one two" });
    assert.equal(a.push(decodeReply(reply(1, 1, "bad "))), null);
    assert.deepEqual(a.push(decodeReply(reply(0, 0, "news"))), { err: 1, text: "bad news" });
  });
});

describe("notify codec", () => {
  it("decodes the SOCKET message of the reference (39 bytes, path with NUL)", () => {
    const b = Buffer.from("bebafeca020000000000000017000000", "hex");
    const m = decodeNotify(Buffer.concat([b, Buffer.from("/root/.uml/t1/mconsole\0")]));
    assert.deepEqual(m, { type: "socket", mconsolePath: "/root/.uml/t1/mconsole" });
  });

  it("decodes panic, user notifications (no NUL) and the 24-byte watchdog HANG", () => {
    assert.deepEqual(decodeNotify(encodeNotify(1, Buffer.from("Attempted to kill init!\0"))), { type: "panic", message: "Attempted to kill init!" });
    assert.deepEqual(decodeNotify(encodeNotify(3, Buffer.from("umld:ready"))), { type: "user", text: "umld:ready" });
    const hang = Buffer.alloc(24);
    hang.writeUInt32LE(0xcafebabe, 0);
    hang.writeUInt32LE(2, 8);
    hang.writeUInt32LE(2, 12);
    hang.writeUInt32LE(0x7fff0000, 20);
    assert.deepEqual(decodeNotify(hang), { type: "hang" });
    assert.equal(decodeNotify(Buffer.from("garbage")).type, "unknown");
  });
});

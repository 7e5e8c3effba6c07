import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { chownSync, closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";
import { native, type NativeDgramSocket } from "../../core/native.js";

const { O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDONLY, O_WRONLY } = constants;
const NATIVE_URL = new URL("../../core/native.js", import.meta.url).href;
let dir = "";
before(() => (dir = mkdtempSync(join(tmpdir(), "umld-native-"))));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Asserts fn throws an Error whose .code is one of codes (and that has a .syscall). */
function throwsCode(fn: () => unknown, ...codes: string[]): void {
  assert.throws(fn, (e: NodeJS.ErrnoException) => {
    assert.ok(codes.includes(e.code ?? ""), `code ${e.code} (${e.message}), expected ${codes.join("/")}`);
    assert.equal(typeof e.syscall, "string");
    return true;
  });
}

/** getfacl's entries, numeric, without the header or #effective comments. */
const facl = (path: string) => execFileSync("getfacl", ["-n", "-p", "-c", "-E", path], { encoding: "utf8" }).split("\n").filter(Boolean);

/** Runs an ES module in a fresh node with `native` (or nothing) imported; resolves with its exit code and output. */
async function runChild(body: string, nodeArgs: string[] = [], withNative = true): Promise<{ code: number; stdout: string; stderr: string }> {
  const src = `${withNative ? `import { native } from ${JSON.stringify(NATIVE_URL)};` : ""}\nconst dir = ${JSON.stringify(dir)};\n${body}`;
  try {
    const r = await promisify(execFile)(process.execPath, [...nodeArgs, "--input-type=module", "-e", src], { timeout: 60_000 });
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code: number | string; signal?: string; stdout: string; stderr: string };
    assert.equal(x.signal ?? null, null, `child killed by ${x.signal} (timed out?): ${x.stderr}`);
    return { code: Number(x.code), stdout: x.stdout, stderr: x.stderr };
  }
}

/** A bound receiver and a client connected to it, both closed after the test. */
function pair(name: string, onMessage: (buf: Buffer, truncated: boolean) => void): { server: NativeDgramSocket; client: NativeDgramSocket } {
  const server = new native.Socket(onMessage);
  server.bind(join(dir, name));
  const client = new native.Socket(() => {});
  client.connect(join(dir, name));
  return { server, client };
}

describe("native: opening without following symlinks", () => {
  let tree = "";
  before(() => {
    tree = join(dir, "tree");
    mkdirSync(join(tree, "real/sub"), { recursive: true });
    writeFileSync(join(tree, "real/sub/file"), "hello");
    symlinkSync(join(tree, "real"), join(tree, "link")); // a symlink in the middle
    symlinkSync(join(tree, "real/sub/file"), join(tree, "real/sub/last")); // a symlink as last component
  });

  for (const [name, open] of [
    ["openPath", native.openPath],
    ["openPathWalk (no openat2)", native.openPathWalk],
  ] as const) {
    it(`${name} opens a path of directories and a file, and refuses every symlink`, () => {
      const fd = open(join(tree, "real/sub/file"), O_RDONLY);
      assert.deepEqual({ ...native.fstatKind(fd), dev: 0, ino: 0 }, { kind: "file", mode: statSync(join(tree, "real/sub/file")).mode & 0o7777, uid: 0, gid: 0, size: 5, nlink: 1, dev: 0, ino: 0 });
      native.closeFd(fd);
      const d = open(join(tree, "real/sub"), native.O_PATH | O_DIRECTORY);
      assert.equal(native.fstatKind(d).kind, "dir");
      native.closeFd(d);
      for (const flags of [O_RDONLY, native.O_PATH, native.O_PATH | O_NOFOLLOW]) {
        throwsCode(() => open(join(tree, "link/sub/file"), flags), "ELOOP", "ENOTDIR");
        throwsCode(() => open(join(tree, "real/sub/last"), flags), "ELOOP");
      }
      throwsCode(() => open("real/sub/file", O_RDONLY), "EINVAL");
      throwsCode(() => open(`${tree}/real/sub/../sub/file`, O_RDONLY), "EINVAL"); // not join(): it would resolve the ".."
      throwsCode(() => open(`${tree}/real\0/etc/shadow`, O_RDONLY), "EINVAL");
    });
  }

  it("openAt opens and creates one name below a directory fd, never a symlink, never a path", () => {
    const d = native.openPath(join(tree, "real/sub"), native.O_PATH | O_DIRECTORY);
    try {
      const f = native.openAt(d, "file", O_RDONLY);
      assert.equal(native.fstatKind(f).kind, "file");
      native.closeFd(f);
      const c = native.openAt(d, "created", O_WRONLY | O_CREAT | O_EXCL, 0o640);
      assert.deepEqual([native.fstatKind(c).kind, native.fstatKind(c).mode], ["file", 0o640]);
      native.closeFd(c);
      for (const flags of [O_RDONLY, native.O_PATH, native.O_PATH | O_NOFOLLOW, O_WRONLY | O_CREAT]) throwsCode(() => native.openAt(d, "last", flags), "ELOOP");
      for (const bad of ["", ".", "..", "a/b", "/etc/passwd", "file\0x"]) throwsCode(() => native.openAt(d, bad, O_RDONLY), "EINVAL");
      throwsCode(() => native.openAt(-100, "file", O_RDONLY), "EINVAL"); // AT_FDCWD: a real directory fd is required
      throwsCode(() => native.openAt(d, "missing", O_RDONLY), "ENOENT");
      assert.equal(statSync(join(tree, "real/sub/file"), { throwIfNoEntry: false })?.size, 5, "nothing refused changed the tree");
    } finally {
      native.closeFd(d);
    }
  });

  it("openFd always adds O_NOFOLLOW: a symlink as last component is refused", () => {
    throwsCode(() => native.openFd(join(tree, "real/sub/last"), O_RDONLY), "ELOOP");
    native.closeFd(native.openFd(join(tree, "real/sub/file"), O_RDONLY));
  });

  it("fstatKind names what an fd is, also for O_PATH fds; closeFd closes", () => {
    const kinds: Array<[string, string, number]> = [
      ["/dev/null", "char", O_RDONLY],
      [tree, "dir", native.O_PATH],
      [join(tree, "real/sub/last"), "symlink", native.O_PATH | O_NOFOLLOW],
    ];
    native.mkfifo(join(tree, "fifo"), 0o600);
    kinds.push([join(tree, "fifo"), "fifo", native.O_PATH]);
    for (const [path, kind, flags] of kinds) {
      const fd = openSync(path, flags);
      assert.equal(native.fstatKind(fd).kind, kind, path);
      closeSync(fd);
    }
    const fd = native.openPath(join(tree, "real/sub/file"), native.O_PATH);
    native.closeFd(fd);
    throwsCode(() => native.fstatKind(fd), "EBADF");
    throwsCode(() => native.closeFd(fd), "EBADF");
    if (process.arch === "x64") assert.equal(native.O_PATH, 0o10000000);
  });
});

describe("native: POSIX ACLs", () => {
  it("an access ACL with named users and groups is what getfacl shows; the mask defaults to their union", () => {
    const f = join(dir, "acl-file");
    writeFileSync(f, "x", { mode: 0o600 });
    native.setAcl(f, "access", {
      user: 6,
      group: 4,
      other: 0,
      users: [
        [1234, 6],
        [1000, 4],
      ],
      groups: [[2000, 1]],
    });
    assert.deepEqual(facl(f), ["user::rw-", "user:1000:r--", "user:1234:rw-", "group::r--", "group:2000:--x", "mask::rwx", "other::---"]);
    const fd = native.openPath(f, native.O_PATH); // by fd: set through the O_PATH fd's magic link
    native.setAcl(fd, "access", { user: 6, group: 0, other: 0, users: [[77, 7]], mask: 4 });
    native.closeFd(fd);
    assert.deepEqual(facl(f), ["user::rw-", "user:77:rwx", "group::---", "mask::r--", "other::---"]);
  });

  it("a default ACL is inherited by a socket bound in the directory, and an empty one removes it", () => {
    const d = join(dir, "acl-dir");
    mkdirSync(d, { mode: 0o700 });
    native.setAcl(d, "default", { user: 7, group: 0, other: 0, users: [[1234, 6]] });
    assert.deepEqual(
      facl(d).filter((l) => l.startsWith("default:")),
      ["default:user::rwx", "default:user:1234:rw-", "default:group::---", "default:mask::rw-", "default:other::---"],
    );
    const s = new native.Socket(() => {});
    s.bind(join(d, "sock"));
    s.close();
    assert.ok(facl(join(d, "sock")).includes("user:1234:rw-"), facl(join(d, "sock")).join(" "));
    // unix_bind() applies the umask to the socket's mode itself, so the inherited mask may be narrower: set the socket's own ACL by fd
    const dfd = native.openPath(d, native.O_PATH | O_DIRECTORY);
    const sfd = native.openAt(dfd, "sock", native.O_PATH);
    native.setAcl(sfd, "access", { user: 6, group: 0, other: 0, users: [[1234, 6]] });
    native.closeFd(sfd);
    native.closeFd(dfd);
    assert.deepEqual(facl(join(d, "sock")), ["user::rw-", "user:1234:rw-", "group::---", "mask::rw-", "other::---"]);
    native.setAcl(d, "default", { user: 7, group: 0, other: 0 });
    assert.deepEqual(
      facl(d).filter((l) => l.startsWith("default:")),
      [],
    );
    native.setAcl(d, "default", { user: 7, group: 0, other: 0, users: [] }); // none left: ENODATA is not an error
  });

  it("refuses a symlink target and bad entries, changing nothing", () => {
    const f = join(dir, "acl-target");
    writeFileSync(f, "x", { mode: 0o600 });
    symlinkSync(f, join(dir, "acl-link"));
    throwsCode(() => native.setAcl(join(dir, "acl-link"), "access", { user: 6, group: 0, other: 0, users: [[77, 7]] }), "ENOTSUP", "EPERM");
    const bad: unknown[] = [
      { user: 8, group: 0, other: 0 },
      {
        user: 6,
        group: 0,
        other: 0,
        users: [
          [5, 7],
          [5, 1],
        ],
      },
      { user: 6, group: 0, other: 0, users: [[-1, 7]] },
      { user: 6, group: 0, other: 0, groups: [[4294967295, 7]] },
      { user: 6, group: 0, other: 0, users: [5] },
      { user: 6, other: 0 },
      { user: 6, group: 0, other: 0, mask: 1.5 },
    ];
    for (const acl of bad) throwsCode(() => native.setAcl(f, "access", acl as never), "EINVAL");
    throwsCode(() => native.setAcl(f, "both" as never, { user: 6, group: 0, other: 0 }), "EINVAL");
    assert.deepEqual(facl(f), ["user::rw-", "group::---", "other::---"]);
  });
});

describe("native: datagram sockets", () => {
  it("connecting to /proc/self/fd/N of an O_PATH fd reaches the bound socket; through a symlink it does not", async () => {
    const got: string[] = [];
    let delivered!: () => void;
    const done = new Promise<void>((r) => (delivered = r));
    const server = new native.Socket((buf) => {
      got.push(buf.toString());
      delivered();
    });
    mkdirSync(join(dir, "jail"));
    server.bind(join(dir, "jail/mconsole"));
    symlinkSync(join(dir, "jail/mconsole"), join(dir, "jail/evil"));
    const dfd = native.openPath(join(dir, "jail"), native.O_PATH | O_DIRECTORY);
    const sfd = native.openAt(dfd, "mconsole", native.O_PATH);
    const client = new native.Socket(() => {});
    try {
      assert.equal(native.fstatKind(sfd).kind, "socket");
      client.connect(`/proc/self/fd/${sfd}`);
      client.send(Buffer.from("via fd"));
      await done;
      assert.deepEqual(got, ["via fd"]);
      chownSync(`/proc/self/fd/${sfd}`, 1234, 1234); // Node's fs reaches an O_PATH fd's file the same way
      assert.equal(statSync(join(dir, "jail/mconsole")).uid, 1234);
      throwsCode(() => native.openAt(dfd, "evil", native.O_PATH), "ELOOP");
      const lfd = openSync(join(dir, "jail/evil"), native.O_PATH | O_NOFOLLOW); // even an fd of the symlink itself is not followed
      const other = new native.Socket(() => {});
      throwsCode(() => other.connect(`/proc/self/fd/${lfd}`), "ECONNREFUSED");
      other.close();
      closeSync(lfd);
    } finally {
      client.close();
      server.close();
      native.closeFd(sfd);
      native.closeFd(dfd);
    }
  });

  it("a datagram longer than 64 KiB is delivered cut, with truncated = true", async () => {
    const got: Array<[number, boolean]> = [];
    let delivered!: () => void;
    const done = new Promise<void>((r) => (delivered = r));
    const { server, client } = pair("trunc", (buf, truncated) => {
      got.push([buf.length, truncated]);
      if (got.length === 2) delivered();
    });
    client.send(Buffer.alloc(100, 1));
    assert.equal(client.send(Buffer.alloc(70_000, 2)), 70_000);
    await done;
    client.close();
    server.close();
    assert.deepEqual(got, [
      [100, false],
      [65_536, true],
    ]);
  });

  const thrower = `
    const server = new native.Socket((buf) => {
      if (buf.toString() === "first") throw new Error("boom from onMessage");
      console.log("delivered " + buf.toString());
      server.close(); client.close();
    });
    server.bind(dir + "/throw-" + process.pid);
    const client = new native.Socket(() => {});
    client.connect(dir + "/throw-" + process.pid);
    client.send(Buffer.from("first"));
    client.send(Buffer.from("second"));`;

  it("an exception thrown by onMessage kills the process with that error, not silently", async () => {
    const r = await runChild(thrower);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Error: boom from onMessage/);
    assert.doesNotMatch(r.stdout, /delivered/);
  });

  it("with an uncaughtException handler the error reaches it and later datagrams still arrive", async () => {
    const r = await runChild(`process.on("uncaughtException", (e) => console.log("caught " + e.message));\n${thrower}`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["caught boom from onMessage", "delivered second"]);
  });

  it("in a worker thread, the exception ends the worker with that error", async () => {
    const w = new Worker(
      `import(${JSON.stringify(NATIVE_URL)}).then(({ native }) => { const dir = ${JSON.stringify(dir)}; ${thrower.replaceAll("process.pid", "require('worker_threads').threadId")} });`,
      { eval: true },
    );
    const err = await new Promise<Error>((resolve, reject) => {
      w.once("error", resolve);
      w.once("exit", (code) => reject(new Error(`worker exited ${code} without an error`)));
    });
    assert.equal(err.message, "boom from onMessage");
  });

  it("a worker ended with an open socket does not crash the process, even when only workers loaded the addon", async () => {
    // the close callback of the socket's poll handle runs after the worker's environment is gone
    const worker = `Promise.all([import(${JSON.stringify(NATIVE_URL)}), import("node:worker_threads")]).then(([{ native }, { threadId, parentPort }]) => {
      new native.Socket(() => {}).bind(${JSON.stringify(dir)} + "/worker-end-" + threadId);
      parentPort.postMessage("bound");
    });`;
    const r = await runChild(
      `
      import { Worker } from "node:worker_threads";
      for (let i = 0; i < 3; i++) {
        const w = new Worker(${JSON.stringify(worker)}, { eval: true });
        await new Promise((r) => w.once("message", r));
        await w.terminate();
      }
      console.log("survived");`,
      [],
      false,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "survived");
  });

  it("close() releases the socket: 2000 closed sockets whose callbacks hold them are all collected, no fd left", async () => {
    const r = await runChild(
      `
      import { readdirSync, unlinkSync } from "node:fs";
      let collected = 0;
      const registry = new FinalizationRegistry(() => collected++);
      const fds = readdirSync("/proc/self/fd").length;
      for (let i = 0; i < 2000; i++) {
        const s = new native.Socket(() => s.close()); // the callback holds its socket: the cycle close() must break
        s.bind(dir + "/gc-sock");
        s.close();
        unlinkSync(dir + "/gc-sock");
        registry.register(s, i);
      }
      for (let i = 0; i < 20 && collected < 2000; i++) {
        globalThis.gc();
        await new Promise((r) => setTimeout(r, 10));
      }
      console.log(JSON.stringify({ collected, fdsLeft: readdirSync("/proc/self/fd").length - fds }));`,
      ["--expose-gc"],
    );
    assert.equal(r.code, 0, r.stderr);
    const { collected, fdsLeft } = JSON.parse(r.stdout) as { collected: number; fdsLeft: number };
    assert.ok(collected >= 1900, `only ${collected} of 2000 closed sockets were collected`);
    assert.equal(fdsLeft, 0);
  });

  it("a closed socket refuses use, close is idempotent, bad arguments are refused", () => {
    const s = new native.Socket(() => {});
    throwsCode(() => s.bind(`${dir}/x\0y`), "EINVAL");
    throwsCode(() => s.bind(`${dir}/${"x".repeat(120)}`), "ENAMETOOLONG");
    s.close();
    s.close();
    throwsCode(() => s.send(Buffer.from("x")), "EBADF");
    throwsCode(() => s.connect(`${dir}/x`), "EBADF");
    assert.throws(() => new native.Socket(undefined as never), TypeError);
  });
});

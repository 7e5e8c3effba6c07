/**
 * A fake UML kernel for supervisor tests: a Node process that behaves, seen
 * from the supervisor, like linux.uml booted with `noreboot`. It takes UML's
 * options (umid=, uml_dir=, mconsole=notify:PATH), binds its mconsole socket
 * at <uml_dir><umid>/mconsole, sends the SOCKET and USER "umld:ready" notify
 * datagrams, answers mconsole version/proc/halt/reboot/cad/stop/go, and reads
 * a "shell" on its console (stdin): `reboot` and `poweroff` end it as the
 * kernel would (status 0 after its last line), `echo X` prints X.
 * FAKE_UML_CLIENT names the supervisor's mconsole client socket (UML answers
 * with sendto() to the request's source; this fake connects to it instead).
 * FAKE_UML_NO_READY: send no readiness datagram.
 */
import { mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { native } from "../../core/native.js";
import { MCONSOLE_MAGIC } from "../../core/uml/mconsole/codec.js";
import { encodeNotify, READY_NOTIFY_TEXT } from "../../core/uml/notify.js";

const opt = (key: string) => process.argv.find((a) => a.startsWith(`${key}=`))?.slice(key.length + 1) ?? "";
const umid = opt("umid");
const notifyPath = opt("mconsole").replace(/^notify:/, "");
const mconsolePath = `${opt("uml_dir")}${umid}/mconsole`;
const client = process.env.FAKE_UML_CLIENT ?? "";

const say = (text: string) => process.stdout.write(text);

/** Ends like the kernel: its last line, then exit status 0 (noreboot). */
function end(line: string): void {
  say(`${line}\n`);
  setTimeout(() => process.exit(0), 5);
}

function notify(type: number, text: string): void {
  const s = new native.Socket(() => {});
  s.connect(notifyPath);
  s.send(encodeNotify(type, Buffer.from(`${text}\0`)));
  s.close();
}

let ticks = 100;
function answer(command: string): { err: number; text: string; after?: () => void } {
  const [verb, ...rest] = command.split(" ");
  switch (verb) {
    case "version":
      return { err: 0, text: "fake-uml 6.1.0" };
    case "proc":
      return rest[0] === "stat" ? { err: 0, text: `cpu  ${(ticks += 10)} 0 0 0\n` } : { err: 1, text: "no such file" };
    case "halt":
      return { err: 0, text: "", after: () => setTimeout(() => process.exit(0), 5) }; // machine_halt prints nothing
    case "reboot":
      return { err: 0, text: "", after: () => end("reboot: Restarting system") };
    case "cad":
      return { err: 0, text: "", after: () => end("reboot: Power down") }; // init's ctrl-alt-del: a poweroff
    case "stop":
    case "go":
      return { err: 0, text: "" };
    default:
      return { err: 1, text: `unknown command '${verb}'` };
  }
}

function reply(err: number, text: string): Buffer {
  const data = Buffer.from(`${text}\0`, "latin1");
  const b = Buffer.alloc(12 + data.length);
  b.writeInt32LE(err, 0);
  b.writeUInt32LE(0, 4);
  b.writeUInt32LE(data.length, 8);
  data.copy(b, 12);
  return b;
}

mkdirSync(dirname(mconsolePath), { recursive: true });
rmSync(mconsolePath, { force: true }); // the previous boot's (a real one's uml_dir is a fresh tmpfs in a fresh jail)
const server = new native.Socket((buf) => {
  if (buf.length < 12 || buf.readUInt32LE(0) !== MCONSOLE_MAGIC) return;
  const command = buf.toString("latin1", 12, 12 + buf.readUInt32LE(8));
  const a = answer(command);
  server.connect(client); // the client may have reopened its socket since
  server.send(reply(a.err, a.text));
  a.after?.();
});
server.bind(mconsolePath);

say(`Linux version 6.1.0-fake (umid ${umid})\nRun /sbin/init as init process\n`);
notify(0, mconsolePath);
if (!process.env.FAKE_UML_NO_READY) {
  setTimeout(() => {
    notify(3, READY_NOTIFY_TEXT);
    setTimeout(() => say("umld: guest ready: fake\nfake:/# "), 30); // the console marker is only the fallback
  }, 20);
}

let line = "";
process.stdin.on("data", (chunk: Buffer) => {
  line += chunk.toString("latin1");
  for (let i = line.indexOf("\n"); i >= 0; i = line.indexOf("\n")) {
    const cmd = line.slice(0, i).trim();
    line = line.slice(i + 1);
    say(`${cmd}\r\n`); // the echo of a terminal
    if (cmd === "reboot") end("reboot: Restarting system");
    else if (cmd === "poweroff") end("reboot: Power down");
    else if (cmd.startsWith("echo ")) say(`${cmd.slice(5)}\r\nfake:/# `);
    else say("fake:/# ");
  }
});

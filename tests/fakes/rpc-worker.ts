/**
 * A stand-in supervisor worker for SupervisorHost tests: answers each request
 * kind by rpc.ts's types (echoes, a failure, a snapshot), posts a fact for
 * each notice (a log naming it), and ends on detach without answering the
 * call still pending.
 */
import { parentPort } from "node:worker_threads";
import type { Call, Reply, ReplyOk, RequestKind, ToWorker, WorkerOutput } from "../../core/supervisor/rpc.js";
import { transferable } from "../../core/supervisor/rpc.js";

if (!parentPort) throw new Error("not in a worker");
const port = parentPort;
const post = (m: WorkerOutput, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

function reply<K extends RequestKind>(c: Call<K>, value: Reply<K>, transfer: ArrayBuffer[] = []): void {
  const m: ReplyOk<K> = { t: "reply", id: c.id, kind: c.kind, value };
  port.postMessage(m, transfer);
}

port.on("message", (m: ToWorker) => {
  if (m.t === "notice") {
    return post({ t: "log", level: "info", msg: `notice ${m.kind}` });
  }
  switch (m.kind) {
    case "mconsole":
      return reply(m, `echo:${m.args.command}`);
    case "console-in":
      return reply(m, m.args.data.byteLength <= 4); // "full" past 4 bytes
    case "scrollback": {
      const t = transferable(Buffer.from("scrolled"));
      return reply(m, { data: t.data, end: 108 }, [t.buffer]);
    }
    case "channel-close":
      return post({ t: "failed", id: m.id, kind: m.kind, error: { code: "mconsole_error", message: "ssl1 is busy" } });
    case "action":
      return reply(m, { graceful: m.args.action === "shutdown" });
    case "channel-open":
      return reply(m, "/dev/pts/9");
    case "channel-in":
      return reply(m, true);
    case "channel-scrollback":
      return reply(m, { data: new Uint8Array(0), end: 0 });
    case "jail":
      return reply(m, null);
    case "detach":
      return port.close(); // gone with a call pending
  }
});
post({ t: "idle" });

/** Worker entry: flattens one COW off the main thread, posting progress. */
import { parentPort, workerData } from "node:worker_threads";
import { mergeCow } from "./cow-merge.js";
import { CowMismatchError, type BackingRecord } from "./cow.js";

const { cow, backing, out } = workerData as { cow: string; backing: BackingRecord; out: string };
try {
  let last = 0;
  const r = mergeCow(cow, backing, out, (done, total) => {
    const now = Date.now();
    if (now - last >= 100 || done === total) {
      last = now;
      parentPort!.postMessage({ t: "progress", done, total });
    }
  });
  parentPort!.postMessage({ t: "done", ...r });
} catch (e) {
  parentPort!.postMessage({ t: "error", message: (e as Error).message, mismatch: e instanceof CowMismatchError });
}

/**
 * Throughput between two guests on a switch network (busybox dd | nc through
 * uml_switch), beside raw host loopback (a TCP socket pair in this process),
 * measured in the same run. Prints MB/s and the ratio. Not a test.
 *
 *   node dist/bench/net.js [--mb N]
 */
import { createServer, connect } from "node:net";
import { parseArgs } from "node:util";
import { TestDaemon } from "../tests/harness/daemon.js";

const { values } = parseArgs({ options: { mb: { type: "string", default: "32" } } });
// below 16 MiB the 2 s nc -w tail dominates the measurement
const MB = Math.max(16, Number(values.mb));

async function loopbackMBps(bytes: number): Promise<number> {
  return new Promise((resolve) => {
    let got = 0;
    let t0 = 0;
    const server = createServer((s) => {
      s.on("data", (d: Buffer) => {
        got += d.length;
        if (got >= bytes) {
          const secs = (performance.now() - t0) / 1000;
          s.destroy();
          server.close();
          resolve(bytes / 1e6 / secs);
        }
      });
    }).listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      const c = connect(port, "127.0.0.1", () => {
        t0 = performance.now();
        const chunk = Buffer.alloc(64 * 1024);
        let sent = 0;
        const pump = () => {
          while (sent < bytes) {
            sent += chunk.length;
            if (!c.write(chunk)) return void c.once("drain", pump);
          }
          c.end();
        };
        pump();
      });
      c.on("error", () => {});
    });
  });
}

async function main(): Promise<void> {
  const d = await TestDaemon.start({ logLevel: "info" });
  try {
    await d.api("POST", "/v1/networks", { name: "bench", subnet: "10.88.0.0/24" });
    for (const n of ["tx", "rx"]) {
      await d.api("POST", "/v1/instances", { name: n, memoryMiB: 128 });
      await d.api("POST", `/v1/instances/${n}/nics`, { network: "bench" });
      await d.mustAct(n, "start");
    }
    const rx = await d.shell("rx");
    const tx = await d.shell("tx");
    await tx.run("ping -c 1 -W 3 10.88.0.2");
    rx.type("nc -l -p 5001 | wc -c > /tmp/count &\n");
    await new Promise((r) => setTimeout(r, 500));
    const t0 = performance.now();
    await tx.run(`dd if=/dev/zero bs=64k count=${MB * 16} 2>/dev/null | nc -w 2 10.88.0.2 5001`, 300_000);
    const secs = (performance.now() - t0) / 1000 - 2; // nc -w 2 waits 2 s after EOF
    await new Promise((r) => setTimeout(r, 500));
    const received = Number((await rx.run("cat /tmp/count")).trim().split(/\s+/).pop());
    const guest = received / 1e6 / secs;
    const host = await loopbackMBps(MB * 1024 * 1024);
    console.log(`throughput, ${MB} MiB, TCP:`);
    console.log(`  guest -> guest over a switch network (busybox dd | nc, uml_switch): ${guest.toFixed(1)} MB/s (${received} bytes arrived)`);
    console.log(`  host loopback (TCP socket pair):                                  ${host.toFixed(1)} MB/s`);
    console.log(`  ratio guest / host loopback: ${(guest / host).toFixed(4)}`);
    rx.close();
    tx.close();
  } finally {
    await d.stop();
  }
}

void main();

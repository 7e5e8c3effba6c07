import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TestDaemon } from "../harness/daemon.js";

describe("a minimal Debian image built with debootstrap", { timeout: 600_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
  });
  after(async () => {
    await d?.stop();
  });

  it("builds with progress, boots under systemd to ready, offers a console login, and shuts down gracefully", async () => {
    const ev = d.events.length;
    const r = await d.api("POST", "/v1/images/build", { name: "debian", recipe: "debian" });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.image.kind, "built-in");
    assert.match(r.body.image.source, /debian bookworm/);
    const steps = d.events.slice(ev).filter((e) => e.type === "operation" && e.operation.id === r.body.operation.id && e.operation.progress);
    assert.ok(steps.length > 3, "debootstrap's steps were streamed");

    await d.api("POST", "/v1/instances", { name: "deb-1", image: "debian", memoryMiB: 256 });
    const started = await d.act("deb-1", "start", { timeoutS: 120 });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    assert.equal(started.body.instance.ready, true);

    const con = await d.console("deb-1");
    await con.waitFor("deb-1 login: ", 60_000);
    const mark = con.bytes;
    con.type("root\n");
    await con.waitFor("root@deb-1:~# ", 30_000, mark);
    const m2 = con.bytes;
    con.type("echo deb-$((6*7)); cat /etc/debian_version\n");
    await con.waitFor(/deb-42\r?\n12\.\d+/, 20_000, m2);
    con.close();

    const down = await d.act("deb-1", "shutdown", { timeoutS: 60 });
    assert.equal(down.status, 200);
    assert.equal(down.body.instance.lastExit.reason, "shut down", "ctrl-alt-del powered it off (no halt after a timeout)");
  });
});

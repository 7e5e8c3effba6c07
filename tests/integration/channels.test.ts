import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TestDaemon, type ConsoleClient } from "../harness/daemon.js";

describe("extra consoles and serial lines", { timeout: 180_000 }, () => {
  let d: TestDaemon;
  let con: ConsoleClient;
  before(async () => {
    d = await TestDaemon.start();
    await d.create("ch-1");
    await d.mustAct("ch-1", "start");
    con = await d.shell("ch-1");
  });
  after(async () => {
    con?.close();
    await d?.stop();
  });

  it("adds a serial line live: guest output arrives on its WebSocket, and typed input reaches the guest", async () => {
    const r = await d.api("POST", "/v1/instances/ch-1/consoles", { channel: "ssl0" });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.guestDevice, "/dev/ttyS0");
    assert.match(r.body.hostPty, /^\/dev\/pts\/\d+$/);
    const ssl = await d.console("ch-1", true, "ssl0");
    await con.run("echo serial-out-$((3*14)) > /dev/ttyS0");
    await ssl.waitFor("serial-out-42", 10_000);
    assert.doesNotMatch(con.text().split("serial-out-$((3*14))").pop() ?? "", /serial-out-42/, "not on the main console");
    // input: a guest process reads one line from the serial line
    con.type("head -n1 /dev/ttyS0 > /tmp/got &\n");
    await new Promise((r2) => setTimeout(r2, 500));
    // while the guest holds the line open, it cannot be removed
    const busy = await d.api("DELETE", "/v1/instances/ch-1/consoles/ssl0");
    assert.equal(busy.status, 409);
    assert.equal(busy.body.error.code, "channel_busy");
    ssl.type("typed-on-serial\n");
    await new Promise((r2) => setTimeout(r2, 500));
    assert.match(await con.run("cat /tmp/got"), /typed-on-serial/);
    ssl.close();
    const list = await d.api("GET", "/v1/instances/ch-1/consoles");
    assert.deepEqual(
      list.body.channels.map((c: any) => c.channel),
      ["ssl0"],
    );
    const rm = await d.api("DELETE", "/v1/instances/ch-1/consoles/ssl0");
    assert.equal(rm.status, 200, JSON.stringify(rm.body));
    assert.deepEqual((await d.api("GET", "/v1/instances/ch-1/consoles")).body.channels, []);
  });

  it("keeps channels across a reboot, and configures ones added while stopped at the next start", async () => {
    await d.api("POST", "/v1/instances/ch-1/consoles", { channel: "ssl1" });
    await d.mustAct("ch-1", "reboot");
    con.close();
    con = await d.shell("ch-1");
    const ssl = await d.console("ch-1", true, "ssl1");
    await con.run("echo after-reboot-$((5*5)) > /dev/ttyS1");
    await ssl.waitFor("after-reboot-25", 10_000);
    ssl.close();

    await d.mustAct("ch-1", "halt");
    const added = await d.api("POST", "/v1/instances/ch-1/consoles", { channel: "con2" });
    assert.equal(added.status, 201);
    assert.equal(added.body.hostPty, null, "configured at the next start");
    await d.mustAct("ch-1", "start");
    con.close();
    con = await d.shell("ch-1");
    const c2 = await d.console("ch-1", true, "con2");
    await con.run("echo on-tty2-$((6*6)) > /dev/tty2");
    await c2.waitFor("on-tty2-36", 10_000);
    c2.close();
  });

  it("refuses unknown or invalid channels", async () => {
    assert.equal(await d.upgradeStatus("/v1/instances/ch-1/console?channel=ssl9"), 404);
    assert.equal(await d.upgradeStatus("/v1/instances/ch-1/console?channel=eth0"), 400);
    assert.equal((await d.api("POST", "/v1/instances/ch-1/consoles", { channel: "con0" })).body.error.code, "invalid_request");
    assert.equal((await d.api("POST", "/v1/instances/ch-1/consoles", { channel: "ssl1" })).body.error.code, "channel_busy");
    assert.equal((await d.api("DELETE", "/v1/instances/ch-1/consoles/ssl7")).body.error.code, "channel_not_found");
  });
});

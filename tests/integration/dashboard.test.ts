import assert from "node:assert/strict";
import { appendFileSync, chmodSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { TestDaemon } from "../harness/daemon.js";
import { fakeKernel } from "../harness/fixtures.js";
import { signIn, TestBrowser, unlabelledControls, waitForTerminal } from "../harness/browser.js";

const BOOT_MS = 120_000;

/** The h1's state badge of an instance page. */
const stateOf = (page: Page) => page.locator("main h1 .state");
const field = (page: Page, name: string) => page.locator(`[data-field="${name}"]`);

/** The dashboard in a real browser (Debian's chromium) against a real daemon with real UML guests. */
describe("the web dashboard", { timeout: 600_000 }, () => {
  let d: TestDaemon;
  let b: TestBrowser;
  let tenantToken = "";
  const kernels = mkdtempSync("/tmp/umld-k-");
  before(async () => {
    d = await TestDaemon.start();
    b = await TestBrowser.launch();
    // two more kernels: the same UML with another sha, and one whose guest panics at boot
    copyFileSync("/usr/bin/linux.uml", `${kernels}/linux-good`);
    appendFileSync(`${kernels}/linux-good`, "umld-test-build");
    chmodSync(`${kernels}/linux-good`, 0o755);
    for (const [name, path] of [
      ["good", `${kernels}/linux-good`],
      ["panics", fakeKernel(kernels, "panics")],
    ]) {
      assert.equal((await d.api("POST", "/v1/kernels", { name, path })).status, 201, name);
    }
  });
  after(async () => {
    await b?.close();
    await d?.stop();
    rmSync(kernels, { recursive: true, force: true });
  });

  it("an admin signs in, creates and starts a guest, uses its console, reboots it and shuts it down", async () => {
    const { page, problems } = await b.page(`${d.url}/`);
    await b.shot(page, "sign-in");
    await signIn(page, d.token);
    await page.getByRole("heading", { name: "Instances" }).waitFor();
    assert.equal(await page.evaluate("sessionStorage.length"), 1, "the token is kept for this tab");
    assert.ok(!page.url().includes(d.token), "never in the URL");

    // create: name, memory, start now
    await page.getByRole("link", { name: "Create" }).click();
    await page.getByLabel("Name").fill("dash-1");
    await page.getByLabel("Memory (MiB)").fill("64");
    await b.shot(page, "create");
    await page.getByRole("button", { name: "Create", exact: true }).click();
    await page.getByRole("heading", { name: /^dash-1/ }).waitFor();
    await stateOf(page).filter({ hasText: "running" }).waitFor({ timeout: BOOT_MS });
    await field(page, "ready").filter({ hasText: "yes" }).waitFor({ timeout: BOOT_MS });
    for (const label of ["Shut down", "Halt", "Reboot", "Pause"]) assert.ok(await page.getByRole("button", { name: label, exact: true }).isVisible(), label);
    assert.equal(await page.getByRole("button", { name: "Start", exact: true }).count(), 0, "Start is not offered to a running guest");
    await field(page, "guest-memory").filter({ hasText: "total" }).waitFor();
    // CPU from the daemon's sampler (the guest's cgroup): booting took some
    await field(page, "cpu")
      .filter({ hasText: /\d+\.\d s$/ })
      .waitFor();
    const usage = await d.api("GET", "/v1/usage");
    assert.ok(usage.body.instances.find((u: { name: string }) => u.name === "dash-1")?.sample?.cpuSeconds > 0, "the guest used CPU to boot");
    await b.shot(page, "instance");
    assert.deepEqual(await unlabelledControls(page), [], "every control of the instance page has a name");

    // the console: the prompt from the scrollback, a command typed and its output
    await page.getByRole("link", { name: "Console", exact: true }).click();
    const terminal = page.getByRole("region", { name: "Console of dash-1" });
    await page.getByText("con0: connected").waitFor();
    await terminal.click();
    await page.keyboard.press("Enter");
    await waitForTerminal(terminal, "dash-1:/# ");
    const other = await d.console("dash-1", false); // a second viewer, next to the browser
    await page.keyboard.type("echo dashboard-$((6*7))");
    await page.keyboard.press("Enter");
    await waitForTerminal(terminal, "dashboard-42");
    await other.waitFor("dashboard-42");
    other.close();
    await b.shot(page, "console");
    assert.deepEqual(await unlabelledControls(page), [], "every control of the console tab has a name");
    // attached again: the scrollback brings back what was on the console
    await page.getByRole("button", { name: "Reconnect" }).click();
    await page.getByText("con0: connected").waitFor();
    await waitForTerminal(terminal, "dashboard-42");

    // reboot: a new boot, running and ready again
    await page.getByRole("button", { name: "Reboot", exact: true }).click();
    await field(page, "boots").filter({ hasText: "2" }).waitFor({ timeout: BOOT_MS });
    await stateOf(page).filter({ hasText: "running" }).waitFor({ timeout: BOOT_MS });
    await field(page, "ready").filter({ hasText: "yes" }).waitFor({ timeout: BOOT_MS });
    assert.equal((await d.get("dash-1")).bootCount, 2);

    // a kernel upgrade that fails rolls back, and says so; then one that works
    await page.getByRole("link", { name: "Kernel", exact: true }).click();
    await page.getByLabel("Upgrade to kernel").selectOption("panics");
    await page.getByRole("button", { name: "Upgrade kernel" }).click();
    await page.getByText(/^Rolled back: /).waitFor({ timeout: BOOT_MS });
    await field(page, "ready").filter({ hasText: "yes" }).waitFor({ timeout: BOOT_MS });
    await page.getByLabel("Upgrade to kernel").selectOption("good");
    await page.getByRole("button", { name: "Upgrade kernel" }).click();
    await page.getByText("Upgraded: dash-1 runs good.").waitFor({ timeout: BOOT_MS });
    await b.shot(page, "kernel");
    assert.equal((await d.get("dash-1")).bootedKernel, "good");
    await field(page, "ready").filter({ hasText: "yes" }).waitFor({ timeout: BOOT_MS });

    // the list while it runs, then back to the instance
    await page.getByRole("link", { name: "Instances" }).click();
    const row = page.locator('tr[data-instance="dash-1"]');
    await row.getByText("running").waitFor();
    await row.getByText(/available$/).waitFor({ timeout: 60_000 }); // the sampler asks the guest every 30 s at most
    await b.shot(page, "instances");
    await row.getByRole("link", { name: "dash-1" }).click();

    // shut down: stopped, and Start is offered again
    await page.getByRole("button", { name: "Shut down", exact: true }).click();
    await stateOf(page).filter({ hasText: "stopped" }).waitFor({ timeout: BOOT_MS });
    await page.getByRole("button", { name: "Start", exact: true }).waitFor();
    assert.equal((await d.get("dash-1")).state, "stopped");

    // its events, live since the page opened: the boots and the shutdown
    await page.getByRole("link", { name: "Events", exact: true }).click();
    await page
      .getByRole("cell", { name: /^stopping → stopped/ })
      .first()
      .waitFor();
    await page
      .getByRole("cell", { name: /^ready after \d+ ms$/ })
      .first()
      .waitFor();
    await b.shot(page, "events");

    // snapshots: take one, restore it (a confirm dialog, accepted), clone from it
    page.on("dialog", (dialog) => void dialog.accept());
    await page.getByRole("link", { name: "Snapshots", exact: true }).click();
    await page.getByLabel("Snapshot name").fill("before");
    await page.getByRole("button", { name: "Take a snapshot" }).click();
    await page.getByRole("button", { name: "Restore before" }).click();
    await page.getByText("Restored to before.").waitFor();
    await page.getByLabel("New instance name").fill("dash-2");
    await b.shot(page, "snapshots");
    await page.getByRole("button", { name: "Clone before" }).click();
    await page.getByRole("heading", { name: /^dash-2/ }).waitFor();
    assert.equal((await d.get("dash-2")).state, "stopped");

    // the list, live: the state moved without a reload
    await page.getByRole("link", { name: "Instances" }).click();
    await row.getByText("stopped").waitFor();
    // the one refusal expected: the upgrade that rolled back answers 500 upgrade_rolled_back (docs/errors.md)
    assert.deepEqual(problems, ["http 500 PUT /v1/instances/dash-1/state"], "no script error, CSP violation or other failed request");
  });

  it("an admin's other views: images and kernels, networks, host, tenants with a new token shown once", async () => {
    const { page, problems } = await b.page(`${d.url}/`);
    await signIn(page, d.token);
    for (const [link, heading, shot] of [
      ["Images and kernels", "Images and kernels", "catalog"],
      ["Networks", "Networks", "networks"],
      ["Host", "Host", "host"],
    ] as const) {
      await page.getByRole("link", { name: link, exact: true }).click();
      await page.getByRole("heading", { name: heading, exact: true, level: 1 }).waitFor();
      await page.waitForLoadState("networkidle");
      await b.shot(page, shot);
      assert.deepEqual(await unlabelledControls(page), [], `every control of ${link} has a name`);
    }
    await page.locator('[data-field="committed"]').waitFor();
    assert.match((await page.locator('td[data-state="stopped"]').textContent()) ?? "", /^2$/, "dash-1 and its clone, stopped");

    await page.getByRole("link", { name: "Tenants", exact: true }).click();
    await page.getByLabel("Tenant name").fill("acme");
    await page.getByRole("button", { name: "Create tenant" }).click();
    await page.getByRole("button", { name: "Tokens of acme" }).click();
    await page.getByLabel("Token name").fill("laptop");
    await page.getByRole("button", { name: "Create token" }).click();
    const secret = page.getByLabel("New token (shown once)");
    await secret.waitFor();
    tenantToken = await secret.inputValue();
    assert.match(tenantToken, /^umld_/);
    await b.shot(page, "tenants");
    assert.deepEqual(await unlabelledControls(page), [], "every control of Tenants has a name");

    // signing out forgets the token
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Token").waitFor();
    assert.equal(await page.evaluate("sessionStorage.length"), 0);
    assert.deepEqual(problems, []);
  });

  it("a tenant token sees only its own guests, no admin views, and no control it may not use", async () => {
    assert.ok(tenantToken, "the previous test made a tenant token");
    await d.api("POST", "/v1/instances", { name: "acme-box", memoryMiB: 64 }, { token: tenantToken });
    const { page, problems } = await b.page(`${d.url}/`, { width: 390, height: 844 }); // a phone
    await signIn(page, tenantToken);
    await page.locator('tr[data-instance="acme-box"]').waitFor();
    assert.equal(await page.locator("tr[data-instance]").count(), 1, "only acme's guest, not dash-1 or dash-2");
    assert.equal(await page.getByRole("link", { name: "Tenants" }).count(), 0);
    assert.equal(await page.getByRole("link", { name: "Host" }).count(), 0);
    await b.shot(page, "tenant-phone");
    // another tenant's or an admin's name is as absent as a missing one
    await page.goto(`${d.url}/#/instances/dash-1`);
    await page.getByText("No such instance").waitFor();
    await page.goto(`${d.url}/#/tenants`);
    await page.getByText("Tenants are for admins.").waitFor();
    await page.getByRole("link", { name: "Overview" }).click();
    await page.getByRole("heading", { name: "Quotas" }).waitFor();

    // a read-only token: the buttons that would be refused are not there
    const reader = await d.api("POST", "/v1/tenants/acme/tokens", { name: "reader", actions: ["read"] });
    const ro = await b.page(`${d.url}/#/instances/acme-box`);
    // by keyboard alone: Tab to the token, type it, Enter
    await ro.page.getByLabel("Token").waitFor();
    await ro.page.keyboard.press("Tab");
    await ro.page.keyboard.type(reader.body.token);
    await ro.page.keyboard.press("Enter");
    await ro.page.getByRole("heading", { name: /^acme-box/ }).waitFor();
    assert.equal(await ro.page.getByRole("button", { name: "Start", exact: true }).count(), 0);
    assert.equal(await ro.page.getByRole("link", { name: "Create" }).count(), 0);
    // the one refusal expected: dash-1 looked up by a tenant that does not own it
    assert.deepEqual([...problems, ...ro.problems], ["http 404 GET /v1/instances/dash-1"]);
  });

  it("the daemon's log never holds a token the browser sent", () => {
    const log = d.logLines.join("\n");
    assert.ok(log.length > 0);
    for (const t of [d.token, tenantToken].filter(Boolean)) assert.ok(!log.includes(t), "a token in the log");
    assert.ok(!log.includes("umld.bearer."), "a WebSocket credential in the log");
  });
});

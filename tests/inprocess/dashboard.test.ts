import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { webSocketProtocols } from "../../client/websocket.js";
import { InProcessDaemon } from "../harness/in-process.js";

/** Opens a WebSocket as a browser would (subprotocols, an Origin); resolves with the chosen subprotocol or the refusal's status. */
function open(url: string, protocols: string[], headers: Record<string, string> = {}): Promise<{ status: number; protocol: string; ws: WebSocket | null }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers });
    ws.once("open", () => resolve({ status: 101, protocol: ws.protocol, ws }));
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, protocol: "", ws: null });
    });
    ws.once("error", reject);
  });
}

/** The dashboard's files and the API it leans on: who a token is, the host, WebSocket auth a browser can do. */
describe("the dashboard's daemon side, in process", () => {
  let d: InProcessDaemon;
  let acme: string;
  let bob: string;
  before(async () => {
    d = await InProcessDaemon.start({ listen: true });
    acme = await d.tenant("acme");
    bob = await d.tenant("bob", ["read"]);
  });
  after(() => d.stop());

  it("serves the page with no token, a strict CSP and a fresh nonce each time; assets by name only", async () => {
    const get = (url: string, headers: Record<string, string> = {}) => d.daemon.app.inject({ method: "GET", url, headers });
    const a = await get("/");
    const b = await get("/");
    assert.equal(a.statusCode, 200);
    assert.match(String(a.headers["content-type"]), /^text\/html/);
    const csp = String(a.headers["content-security-policy"]);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/, "no inline script, no eval");
    assert.match(csp, /frame-ancestors 'none'/);
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce && a.body.includes(`nonce="${nonce}"`), "the page carries its response's nonce");
    assert.notEqual(nonce, /'nonce-([^']+)'/.exec(String(b.headers["content-security-policy"]))?.[1]);
    assert.equal(a.headers["cache-control"], "no-store");
    const script = /src="\/assets\/([^"]+\.js)"/.exec(a.body)?.[1];
    assert.ok(script, "index.html names its bundle");
    const js = await get(`/assets/${script}`, { "accept-encoding": "br, gzip" });
    assert.equal(js.statusCode, 200);
    assert.equal(js.headers["content-encoding"], "br");
    assert.match(String(js.headers["cache-control"]), /immutable/);
    for (const path of ["/assets/..%2Fpackage.json", "/assets/nothing.js", `/assets/${script}.br`]) {
      const r = await get(path);
      assert.deepEqual([r.statusCode, JSON.parse(r.body).error.code], [404, "route_not_found"], path);
    }
    // the API next to it still wants a token
    assert.equal((await get("/v1/instances")).statusCode, 401);
  });

  it("whoami says what a token is; the host overview is for admins", async () => {
    const admin = await d.api("GET", "/v1/whoami");
    assert.deepEqual([admin.body.kind, admin.body.tenant, admin.body.actions], ["admin", null, null]);
    const reader = await d.api("GET", "/v1/whoami", undefined, { token: bob });
    assert.deepEqual([reader.body.kind, reader.body.tenant, reader.body.actions], ["tenant", "bob", ["read"]]);
    assert.equal((await d.api("GET", "/v1/whoami", undefined, { token: "umld_nope_nope" })).status, 401);
    const metrics = await d.api("GET", "/v1/whoami", undefined, { token: readFileSync(`${d.stateDir}/metrics.token`, "utf8").trim() });
    assert.deepEqual([metrics.status, metrics.body.kind], [200, "metrics"], "the dashboard can tell the metrics token apart");

    await d.api("POST", "/v1/instances", { name: "web", memoryMiB: 64 }, { token: acme });
    await d.api("PUT", "/v1/instances/web/state", { action: "start" }, { token: acme });
    const host = await d.api("GET", "/v1/host");
    assert.equal(host.status, 200);
    assert.equal(host.body.instances.byState.running, 1);
    assert.equal(host.body.memory.committedMiB, 64, "the running guest's boot size");
    assert.ok(host.body.memory.totalMiB > 0 && host.body.memory.availableMiB <= host.body.memory.totalMiB);
    const refused = await d.api("GET", "/v1/host", undefined, { token: acme });
    assert.deepEqual([refused.status, refused.body.error.code], [403, "forbidden"]);
  });

  it("a browser's WebSocket authenticates with the token as a subprotocol, never echoed back", async () => {
    const origin = { origin: d.url };
    const ws = `${d.url.replace("http", "ws")}/v1`;
    const ok = await open(`${ws}/events`, webSocketProtocols(acme), origin);
    assert.deepEqual([ok.status, ok.protocol], [101, "umld.v1"]);
    ok.ws!.close();
    const con = await open(`${ws}/instances/web/console`, webSocketProtocols(acme), origin);
    assert.deepEqual([con.status, con.protocol], [101, "umld.v1"]);
    con.ws!.close();
    // a wrong token, and umld.v1 offered with no token
    assert.equal((await open(`${ws}/events`, webSocketProtocols("umld_x_y"), origin)).status, 401);
    assert.equal((await open(`${ws}/events`, ["umld.v1"], origin)).status, 401);
  });

  it("refuses another origin's page, and another tenant's instance exactly like a missing one", async () => {
    const ws = `${d.url.replace("http", "ws")}/v1`;
    for (const origin of ["http://evil.example", "null", d.url.replace("http:", "https:")]) {
      assert.equal((await open(`${ws}/events`, webSocketProtocols(acme), { origin })).status, 403, origin);
    }
    // bob may read but sees no "web" of his own: acme's is not there for him, by either name
    for (const name of ["web", "acme.web"]) {
      assert.equal((await open(`${ws}/instances/${name}/console`, webSocketProtocols(bob), { origin: d.url })).status, 403, "bob's token may not open consoles");
    }
    const other = await d.tenant("bob");
    for (const name of ["web", "acme.web"]) {
      assert.equal((await open(`${ws}/instances/${name}/console`, webSocketProtocols(other), { origin: d.url })).status, 404, name);
    }
  });
});

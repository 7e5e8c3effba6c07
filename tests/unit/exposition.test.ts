import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { escapeLabel, Exposition, labelText } from "../../daemon/http/exposition.js";

describe("Prometheus exposition written per scrape", () => {
  it("writes each family's help and type, then its samples, a blank line between families", () => {
    const x = new Exposition();
    const a = x.family("umld_a", "first", "gauge");
    const b = x.family("umld_b_total", "second", "counter");
    a(labelText({ name: "web", tenant: "" }), 1);
    b("", 2.5);
    a(labelText({ name: "db", tenant: "acme" }), 0);
    assert.equal(
      x.text(),
      '# HELP umld_a first\n# TYPE umld_a gauge\numld_a{name="web",tenant=""} 1\numld_a{name="db",tenant="acme"} 0\n\n# HELP umld_b_total second\n# TYPE umld_b_total counter\numld_b_total 2.5\n',
    );
  });

  it("leaves out samples without a value and escapes what a label value may hold", () => {
    const x = new Exposition();
    const a = x.family("umld_a", "a\\b\nc", "gauge");
    a(labelText({ name: 'x"y\\z\nw' }), null);
    a(labelText({ name: 'x"y\\z\nw' }), undefined);
    a(labelText({ name: 'x"y\\z\nw' }), Number.POSITIVE_INFINITY);
    assert.equal(x.text(), '# HELP umld_a a\\\\b\\nc\n# TYPE umld_a gauge\numld_a{name="x\\"y\\\\z\\nw"} +Inf\n');
    assert.equal(escapeLabel("plain"), "plain");
  });
});

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { guestFilterRules, guestTableName, resolversOf, type GuestFilterSpec } from "../../core/network/guest-filter.js";
import { chain, nftCheckSkip } from "../harness/host-net.js";

const table = guestTableName("/var/lib/umld");
const spec = (s: Partial<GuestFilterSpec>): GuestFilterSpec => ({ table, range: null, uids: [], hostOk: [], egressOk: [], resolvers: [], ...s });

/** The `elements = { … }` of a set, or null when it has none. */
function elements(ruleset: string, set: string): string | null {
  const m = new RegExp(`set ${set} \\{\\n([\\s\\S]*?)\\n  \\}`).exec(ruleset);
  if (!m) throw new Error(`no set ${set}`);
  return /elements = \{ (.*) \}/.exec(m[1]!)?.[1] ?? null;
}

describe("guest filter", () => {
  it("one inet table per state dir, named from its path", () => {
    assert.match(table, /^umld_guests_[0-9a-f]{12}$/);
    assert.equal(guestTableName("/var/lib/umld/"), table, "the same dir however it is spelled");
    assert.notEqual(guestTableName("/srv/umld"), table);
    assert.match(guestFilterRules(spec({})), new RegExp(`^table inet ${table} \\{`));
    assert.throws(() => guestFilterRules(spec({ table: "umld_guests_x; flush ruleset" })), /refusing table name/);
  });

  it("matches guests by uid: the configured range plus single uids, never root", () => {
    const r = guestFilterRules(spec({ range: { first: 2_000_000_000, count: 100_000 }, uids: [999, 0, 2_000_000_005, 999, 64123] }));
    assert.equal(elements(r, "guests"), "999, 64123, 2000000000-2000099999", "sorted, deduplicated; a uid inside the range would overlap it");
    assert.equal(elements(guestFilterRules(spec({ uids: [0] })), "guests"), null, "root is the daemon: never filtered");
    assert.equal(elements(guestFilterRules(spec({ range: { first: 7, count: 1 } })), "guests"), "7");
    assert.throws(() => guestFilterRules(spec({ uids: [-1] })), /not a uid/);
    assert.throws(() => guestFilterRules(spec({ uids: [1.5] })), /not a uid/);
    assert.deepEqual(chain(r, "output"), ["type filter hook output priority filter; policy accept;", "meta skuid @guests jump guest"], "everyone else passes untouched");
  });

  it("refuses guests the host's own addresses unless host_ok, and link-local/metadata always; DNS to the resolvers stays open", () => {
    const r = guestFilterRules(spec({ uids: [999, 1000], hostOk: [1000], resolvers: ["127.0.0.53", "127.0.0.53", "10.255.255.53"] }));
    assert.equal(elements(r, "host_ok"), "1000");
    assert.deepEqual(chain(r, "guest"), [
      "meta skuid != @egress_ok jump refuse",
      "ip daddr { 127.0.0.53, 10.255.255.53 } meta l4proto { tcp, udp } th dport 53 accept",
      "ip daddr { 169.254.0.0/16 } jump refuse",
      "ip6 daddr { fe80::/10, fd00:ec2::254 } jump refuse",
      'oifname "umlbr-*" jump refuse',
      "meta skuid @host_ok accept",
      "fib daddr type local jump refuse",
    ]);
    assert.deepEqual(chain(r, "refuse"), ["meta l4proto tcp reject with tcp reset", "reject with icmpx admin-prohibited"], "a reset: the guest's connect fails at once");
    const noDns = guestFilterRules(spec({ uids: [999] }));
    assert.equal(chain(noDns, "guest")[1], "ip daddr { 169.254.0.0/16 } jump refuse", "no resolver, no exception");
    assert.equal(elements(noDns, "host_ok"), null);
  });

  it("a guest without a user NIC sends nothing over IP: only egress_ok (slirp's guests) get past the first rule", () => {
    const r = guestFilterRules(spec({ uids: [999, 1000], egressOk: [1000, 1000] }));
    assert.equal(elements(r, "egress_ok"), "1000");
    assert.equal(chain(r, "guest")[0], "meta skuid != @egress_ok jump refuse");
    assert.equal(elements(guestFilterRules(spec({ uids: [999] })), "egress_ok"), null, "none: every guest refused");
  });

  it("reads slirp's resolvers from resolv.conf: IPv4 nameservers only", () => {
    assert.deepEqual(resolversOf("# systemd\nnameserver 127.0.0.53\noptions edns0\nnameserver ::1\n  nameserver 10.0.0.2 \nsearch x\n"), ["127.0.0.53", "10.0.0.2"]);
    assert.deepEqual(resolversOf(""), []);
    assert.deepEqual(
      chain(guestFilterRules(spec({ uids: [5], resolvers: ["1.2.3.4; flush ruleset"] })), "guest")[1],
      "ip daddr { 169.254.0.0/16 } jump refuse",
      "nothing but an address reaches the ruleset",
    );
  });

  it("writes rulesets nft accepts (checked by the kernel, nothing applied)", { skip: nftCheckSkip() }, () => {
    for (const s of [spec({}), spec({ range: { first: 2_000_000_000, count: 100_000 }, uids: [999], hostOk: [999, 2_000_000_001], egressOk: [999], resolvers: ["127.0.0.53"] })]) {
      execFileSync("nft", ["-c", "-f", "-"], { input: guestFilterRules(s), stdio: ["pipe", "pipe", "pipe"] });
    }
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Name, OwnedName } from "../../protocol/names.js";
import { derivedImageName, ownerOfName } from "../../core/storage/ownership.js";

describe("derived image names keep their owner", () => {
  it("splits stored names into owner and name", () => {
    assert.deepEqual(ownerOfName("acme.web-s1"), { tenant: "acme", name: "web-s1" });
    assert.deepEqual(ownerOfName("web-s1"), { tenant: null, name: "web-s1" });
  });

  it("never shortens the prefix, even for a 63-character tenant and a 127-character base", () => {
    const tenant = "t".repeat(63);
    const base = `${"i".repeat(63)}-${"s".repeat(63)}`;
    const taken = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const n = derivedImageName(tenant, base, (x) => taken.has(x));
      taken.add(n);
      assert.ok(n.startsWith(`${tenant}.`), n);
      assert.deepEqual(ownerOfName(n).tenant, tenant);
      assert.ok(Name.safeParse(ownerOfName(n).name).success, `the part after the prefix is a Name the tenant can send: ${n}`);
      assert.ok(OwnedName.safeParse(n).success, n);
    }
    assert.equal(taken.size, 12, "all distinct");
  });

  it("admin images have no prefix; a trailing hyphen left by the cut is dropped", () => {
    assert.equal(
      derivedImageName(null, "web-s1", () => false),
      "web-s1",
    );
    const cut = derivedImageName(null, `${"a".repeat(54)}-bbbb`, () => false);
    assert.equal(cut, "a".repeat(54));
    assert.equal(
      derivedImageName("acme", "web-s1", (n) => n === "acme.web-s1"),
      "acme.web-s1-2",
    );
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { printable } from "../../cli/output.js";

describe("umlctl prints what a guest wrote", () => {
  it("shows escape sequences and other control characters instead of sending them to the terminal", () => {
    assert.equal(printable("ok\r\n\u001b]0;owned\u0007\u001b[2J\ttab\r\u009b31m\u007f\n"), "ok\n^[]0;owned^G^[[2J\ttab^M\\x9b31m^?\n");
  });

  it("leaves plain text, newlines, tabs and non-ASCII letters as they are", () => {
    assert.equal(printable("Debian GNU/Linux 12 \u00e9t\u00e9\n\tline\n"), "Debian GNU/Linux 12 \u00e9t\u00e9\n\tline\n");
  });
});

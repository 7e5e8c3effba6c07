/**
 * The page's Content-Security-Policy admits `<style>` elements only with the
 * nonce the daemon put on this page's script (daemon/http/dashboard.ts).
 * xterm.js makes a few for its theme and cell size; every `<style>` made here
 * gets the nonce at creation, before it is inserted. Scripts get nothing:
 * script-src stays 'self'.
 */
const nonce = (document.getElementById("umld-app") as HTMLScriptElement | null)?.nonce ?? "";

if (nonce) {
  const create = Document.prototype.createElement;
  Document.prototype.createElement = function (this: Document, tag: string, options?: ElementCreationOptions): HTMLElement {
    const el = create.call(this, tag, options);
    if (el instanceof HTMLStyleElement) el.nonce = nonce;
    return el;
  } as typeof Document.prototype.createElement;
}

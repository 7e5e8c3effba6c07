import type { CliClient } from "./client.js";

/** Ctrl-]: the detach key, as in telnet and virsh console. */
export const DETACH_KEY = 0x1d;

/** Raw terminal attach: keystrokes go to the guest as they are typed; Ctrl-] detaches. */
export function attachConsole(c: CliClient, name: string, scrollback: boolean, channel?: string): Promise<void> {
  return new Promise((resolve) => {
    const q = new URLSearchParams();
    if (!scrollback) q.set("scrollback", "0");
    if (channel) q.set("channel", channel);
    const qs = q.toString();
    const ws = c.websocket(`/instances/${encodeURIComponent(name)}/console${qs ? `?${qs}` : ""}`);
    const stdin = process.stdin;
    const restore = () => {
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
    };
    ws.on("message", (d: Buffer) => process.stdout.write(d));
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (x: Buffer) => (body += x));
      res.on("end", () => {
        process.stderr.write(`umlctl: console: ${res.statusCode} ${body}\n`);
        process.exitCode = 1;
        resolve();
      });
    });
    ws.on("open", () => {
      if (stdin.isTTY) {
        stdin.setRawMode(true);
        process.stderr.write(`[attached to ${name}; Ctrl-] to detach]\r\n`);
      }
      stdin.resume();
      stdin.on("data", (d: Buffer) => {
        const at = d.indexOf(DETACH_KEY);
        if (at >= 0) {
          if (at > 0) ws.send(d.subarray(0, at));
          ws.close(1000, "detached");
          return;
        }
        ws.send(d);
      });
      stdin.on("end", () => ws.close(1000, "stdin closed"));
    });
    ws.on("close", (code, reason) => {
      restore();
      if (stdin.isTTY) process.stderr.write(`\r\n[detached${code !== 1000 && code !== 1005 ? `: ${String(reason) || code}` : ""}]\r\n`);
      resolve();
    });
    ws.on("error", (e) => {
      restore();
      process.stderr.write(`umlctl: console: ${e.message}\n`);
      process.exitCode = 1;
      resolve();
    });
  });
}

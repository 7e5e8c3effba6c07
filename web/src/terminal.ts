import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";

export interface TerminalSession {
  /** the terminal's size in the page, after fitting */
  size(): { cols: number; rows: number };
  /** types text into the console, as if keyed */
  type(text: string): void;
  focus(): void;
  dispose(): void;
}

export interface TerminalEvents {
  onStatus(status: string): void;
  onResize(cols: number, rows: number): void;
}

/**
 * An xterm.js terminal on a console WebSocket: binary frames both ways (what
 * the guest writes; keys typed, as UTF-8). The terminal is fitted to its box
 * whenever that changes. UML's console is a pipe with no window size, so the
 * size stays in the page: `stty rows R cols C` in the guest tells its programs.
 * Loaded only when a console opens (its own chunk).
 */
export function openTerminal(el: HTMLElement, ws: WebSocket, events: TerminalEvents, early: ArrayBuffer[] = []): TerminalSession {
  // no links addon, no clipboard (OSC 52) or title handling: guest output stays text in a box
  // convertEol: the kernel writes bare \n before the guest's tty turns on onlcr; without it boot messages staircase
  const term = new Terminal({ scrollback: 5000, cursorBlink: true, fontFamily: "ui-monospace, Menlo, Consolas, monospace", fontSize: 14, convertEol: true });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  const refit = () => {
    try {
      fit.fit();
    } catch {
      // not laid out yet
    }
  };
  refit();
  const observer = new ResizeObserver(refit);
  observer.observe(el);
  term.onResize(({ cols, rows }) => events.onResize(cols, rows));
  events.onResize(term.cols, term.rows);

  const encoder = new TextEncoder();
  const send = (text: string) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(text));
  };
  term.onData(send);
  term.onBinary((data) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff));
  });
  for (const chunk of early.splice(0)) term.write(new Uint8Array(chunk)); // what came while this chunk loaded (the scrollback)
  ws.addEventListener("open", () => events.onStatus("connected"));
  ws.addEventListener("message", (m) => {
    if (m.data instanceof ArrayBuffer) term.write(new Uint8Array(m.data));
    else if (typeof m.data === "string") term.write(m.data);
  });
  ws.addEventListener("close", (c) => events.onStatus(`disconnected (${c.code}${c.reason ? `: ${c.reason}` : ""})`));
  if (ws.readyState === WebSocket.OPEN) events.onStatus("connected");
  if (ws.readyState === WebSocket.CLOSED) events.onStatus("disconnected");

  return {
    size: () => ({ cols: term.cols, rows: term.rows }),
    type: send,
    focus: () => term.focus(),
    dispose: () => {
      observer.disconnect();
      ws.close(1000, "viewer closed");
      term.dispose();
    },
  };
}

import { useEffect, useRef, useState } from "preact/hooks";
import type { InstanceView as Instance } from "../../../protocol/instances.js";
import { useApp } from "../context.js";
import type { TerminalSession } from "../terminal.js";
import { ActionCell, ErrorText, Field, Outcome, Section, Table, useAction, useLoad } from "../ui.js";

/**
 * The Console tab: an xterm.js terminal on the console WebSocket (the
 * scrollback first, then live), for the main console or an extra channel,
 * and the extra consoles and serial lines themselves.
 */
export function ConsoleTab({ i }: { i: Instance }) {
  const { session, instances } = useApp();
  const channels = useLoad(() => session.client.call("listChannels", { params: { name: i.name } }), [i.name]);
  const [channel, setChannel] = useState("");
  const [attempt, setAttempt] = useState(0);
  const canConsole = session.can("console");
  const canConfigure = session.can("configure");
  const [newChannel, setNewChannel] = useState("");
  const act = useAction();
  const add = (e: { preventDefault(): void }) => {
    e.preventDefault();
    void act.run(async () => {
      const c = await session.client.call("addChannel", { params: { name: i.name }, body: { channel: newChannel } });
      channels.reload();
      setNewChannel("");
      return `Added ${c.channel} (${c.guestDevice} in the guest).`;
    });
  };
  const remove = (ch: string) =>
    act.run(async () => {
      await session.client.call("removeChannel", { params: { name: i.name, channel: ch } });
      if (channel === ch) setChannel("");
      channels.reload();
      await instances.refresh(i.name);
      return `Removed ${ch}.`;
    });
  return (
    <>
      {canConsole ? (
        <Section title="Console">
          <div class="inline">
            <Field label="Channel">
              <select value={channel} onChange={(e) => setChannel(e.currentTarget.value)}>
                <option value="">con0 (main console)</option>
                {(channels.data?.channels ?? []).map((c) => (
                  <option key={c.channel} value={c.channel}>
                    {c.channel} ({c.guestDevice})
                  </option>
                ))}
              </select>
            </Field>
            <button type="button" onClick={() => setAttempt((n) => n + 1)}>
              Reconnect
            </button>
          </div>
          <Terminal key={`${i.name}/${channel}/${attempt}`} name={i.name} channel={channel} />
        </Section>
      ) : (
        <p>This token may not open consoles.</p>
      )}
      <Section title="Extra consoles and serial lines">
        <ErrorText error={channels.error} />
        {channels.data && channels.data.channels.length === 0 ? <p>None.</p> : null}
        {channels.data?.channels.length ? (
          <Table caption="Extra consoles and serial lines">
            <thead>
              <tr>
                <th scope="col">Channel</th>
                <th scope="col">In the guest</th>
                <th scope="col">Host pty</th>
                {canConfigure ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {channels.data.channels.map((c) => (
                <tr key={c.channel}>
                  <th scope="row">{c.channel}</th>
                  <td>{c.guestDevice}</td>
                  <td>{c.hostPty ?? "—"}</td>
                  {canConfigure ? (
                    <ActionCell label={`Remove ${c.channel}`} disabled={act.busy} onClick={() => remove(c.channel)}>
                      Remove
                    </ActionCell>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </Table>
        ) : null}
        {canConfigure ? (
          <form class="inline" onSubmit={add}>
            <Field label="New channel" hint="con1..con15 or ssl0..ssl63">
              <input required pattern="con([1-9]|1[0-5])|ssl([0-9]|[1-5][0-9]|6[0-3])" value={newChannel} onInput={(e) => setNewChannel(e.currentTarget.value)} />
            </Field>
            <button type="submit" disabled={act.busy}>
              Add channel
            </button>
          </form>
        ) : null}
        <Outcome action={act} />
      </Section>
    </>
  );
}

function Terminal({ name, channel }: { name: string; channel: string }) {
  const { session } = useApp();
  const box = useRef<HTMLElement>(null);
  const term = useRef<TerminalSession | null>(null);
  const [status, setStatus] = useState("connecting…");
  const [size, setSize] = useState<{ cols: number; rows: number } | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let disposed = false;
    const q = channel ? `?channel=${encodeURIComponent(channel)}` : "";
    const ws = session.webSocket(`/v1/instances/${encodeURIComponent(name)}/console${q}`);
    // opened while the terminal's chunk loads: what arrives meanwhile (the scrollback) is kept for it
    const early: ArrayBuffer[] = [];
    const keep = (m: MessageEvent) => m.data instanceof ArrayBuffer && early.push(m.data);
    ws.addEventListener("message", keep);
    import("../terminal.js").then(
      ({ openTerminal }) => {
        if (disposed || !box.current) return ws.close();
        ws.removeEventListener("message", keep);
        term.current = openTerminal(box.current, ws, { onStatus: setStatus, onResize: (cols, rows) => setSize({ cols, rows }) }, early);
      },
      (e) => setError(e),
    );
    return () => {
      disposed = true;
      if (term.current) term.current.dispose();
      else ws.close();
      term.current = null;
    };
  }, [name, channel]);
  const sendSize = () => {
    if (size) term.current?.type(`stty rows ${size.rows} cols ${size.cols}\r`);
    term.current?.focus();
  };
  return (
    <>
      <p class="term-status" role="status">
        {channel || "con0"}: {status}
        {size ? ` · ${size.cols}×${size.rows}` : ""}
      </p>
      <section class="terminal" ref={box} aria-label={`Console of ${name}`} data-console={name} />
      <div class="inline">
        <button type="button" onClick={sendSize} disabled={!size || !status.startsWith("connected")}>
          Tell the guest this size
        </button>
        <small>UML consoles have no window size: this types stty rows/cols into the console.</small>
      </div>
      <ErrorText error={error} />
    </>
  );
}

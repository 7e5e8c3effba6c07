import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useReducer, useRef, useState } from "preact/hooks";
import { ApiError, ProtocolError } from "../../client/index.js";

/** A name (instance, tenant, token, network...) as an input pattern; `\-` because browsers compile patterns with the v flag. */
export const NAME_PATTERN = "[a-z0-9]([a-z0-9\\-]*[a-z0-9])?";

/** What a person reads when a call fails: the daemon's own message and code. */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return `${e.message} (${e.code})`;
  if (e instanceof ProtocolError) return `unexpected answer from umld: ${e.message}`;
  if (e instanceof TypeError) return `cannot reach umld: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

export function ErrorText({ error }: { error: unknown }) {
  if (error === null || error === undefined) return null;
  return (
    <p role="alert" class="error">
      {errorMessage(error)}
    </p>
  );
}

/** A labelled control: the label wraps it, so it is its accessible name. */
export function Field({ label, hint, children }: { label: string; hint?: string; children: ComponentChildren }) {
  return (
    // biome-ignore lint/a11y/noLabelWithoutControl: the control is the child passed in, which the label wraps
    <label class="field">
      <span>{label}</span>
      {children}
      {hint ? <small>{hint}</small> : null}
    </label>
  );
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  const hid = `h-${id ?? title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <section aria-labelledby={hid}>
      <h2 id={hid}>{title}</h2>
      {children}
    </section>
  );
}

/** A table that scrolls sideways on a narrow screen instead of breaking the page. */
export function Table({ caption, children }: { caption: string; children: ComponentChildren }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a region that scrolls sideways must take focus, or keyboards cannot scroll it
    <section class="scroll" aria-label={caption} tabIndex={0}>
      <table>
        <caption class="sr-only">{caption}</caption>
        {children}
      </table>
    </section>
  );
}

/** The last cell of a row: one button acting on that row, named for the row (a screen reader hears "Delete kernel k1"). */
export function ActionCell({ label, disabled, onClick, children }: { label: string; disabled: boolean; onClick: () => void; children: ComponentChildren }) {
  return (
    <td>
      <button type="button" disabled={disabled} onClick={onClick} aria-label={label}>
        {children}
      </button>
    </td>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`state state-${state}`}>{state}</span>;
}

/**
 * Runs one action at a time for a form or a row of buttons: `busy` while it
 * runs, its error (shown by the caller with ErrorText), and the note (a
 * string) the action returns on success.
 */
export function useAction(): { run: (fn: () => Promise<unknown>) => Promise<void>; busy: boolean; error: unknown; note: string | null } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState<string | null>(null);
  const mounted = useRef(true);
  useEffect(() => () => void (mounted.current = false), []);
  const run = useCallback(async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    setNote(null);
    try {
      const n = await fn();
      if (mounted.current) setNote(typeof n === "string" ? n : null);
    } catch (e) {
      if (mounted.current) setError(e);
    } finally {
      if (mounted.current) setBusy(false);
    }
  }, []);
  return { run, busy, error, note };
}

/** The outcome of a form or button row: a status line read out politely, or the error. */
export function Outcome({ action }: { action: { busy: boolean; error: unknown; note: string | null } }) {
  return (
    <>
      <p class="note" role="status" aria-live="polite">
        {action.busy ? "Working…" : (action.note ?? "")}
      </p>
      <ErrorText error={action.error} />
    </>
  );
}

/** Loads data once (and again when `deps` change or `reload()` is called). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | null; error: unknown; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tick, bump] = useReducer((x: number, _: null) => x + 1, 0);
  const reload = useCallback(() => bump(null), []);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(null);
      },
      (e) => live && setError(e),
    );
    return () => void (live = false);
  }, [...deps, tick]);
  return { data, error, reload };
}

/** Re-renders the caller whenever `subscribe`'s source changes. */
export function useSubscription(subscribe: (fn: () => void) => () => void): void {
  const [, force] = useReducer((x: number) => x + 1, 0);
  useEffect(() => subscribe(() => force(0)), [subscribe]);
}

/** Re-renders every `ms` (uptimes counted on locally, no requests). */
export function useTick(ms: number): void {
  const [, force] = useReducer((x: number) => x + 1, 0);
  useEffect(() => {
    const t = setInterval(() => force(0), ms);
    return () => clearInterval(t);
  }, [ms]);
}

import { useState } from "preact/hooks";
import { Session } from "../session.js";
import { ErrorText, Field } from "../ui.js";

export function SignIn({ notice, onSignedIn }: { notice: string | null; onSignedIn: (s: Session) => void }) {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await Session.signIn(token.trim()));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <h1>Sign in to umld</h1>
      {notice ? (
        <p class="note" role="status">
          {notice}
        </p>
      ) : null}
      <form onSubmit={submit}>
        <Field label="Token" hint="An admin's token is in the state directory's admin.token; a tenant's comes from its admin.">
          <input type="password" name="token" autocomplete="off" spellcheck={false} required value={token} onInput={(e) => setToken(e.currentTarget.value)} />
        </Field>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <ErrorText error={error} />
      </form>
      <p class="fine">The token is kept in this browser tab only: closing the tab or signing out forgets it.</p>
    </main>
  );
}

import { useEffect, useRef, useState } from "preact/hooks";
import { AppContext, useApp, type Ctx } from "./context.js";
import { EventStream } from "./events.js";
import iconUrl from "./icon.svg";
import { href, useRoute, type Route } from "./router.js";
import { Session } from "./session.js";
import { InstancesStore } from "./store.js";
import { errorMessage, useSubscription } from "./ui.js";
import { SignIn } from "./views/signin.js";
import { InstancesView } from "./views/instances.js";
import { InstanceView } from "./views/instance.js";
import { CreateView } from "./views/create.js";
import { CatalogView } from "./views/catalog.js";
import { NetworksView } from "./views/networks.js";
import { HostView } from "./views/host.js";
import { TenantsView } from "./views/tenants.js";

/** The page: sign-in until a token is accepted, then the views over one event stream. */
export function App() {
  const [ctx, setCtx] = useState<Ctx | null>(null);
  const [resuming, setResuming] = useState(true);
  const [notice, setNotice] = useState<string | null>(null);
  const current = useRef<Ctx | null>(null);

  const signOut = (why: string | null) => {
    Session.forget();
    current.current?.stream.close();
    current.current?.instances.close();
    current.current = null;
    setCtx(null);
    setNotice(why);
    history.replaceState(null, "", location.pathname); // the next token starts from the instances
  };

  const start = (session: Session) => {
    const stream = new EventStream(session);
    const instances = new InstancesStore(session, stream);
    session.onRightsEnded = (why) => signOut(`Signed out: ${why}.`);
    stream.start();
    void instances.load();
    current.current = { session, stream, instances };
    setNotice(null);
    setCtx(current.current);
  };

  useEffect(() => {
    Session.resume()
      .then(
        (s) => s && start(s),
        (e) => setNotice(`Sign in again: ${errorMessage(e)}`),
      )
      .finally(() => setResuming(false));
    return () => current.current?.stream.close();
  }, []);

  if (resuming) return <p class="loading">Loading…</p>;
  if (!ctx) return <SignIn notice={notice} onSignedIn={start} />;
  return (
    <AppContext.Provider value={ctx}>
      <Shell onSignOut={() => signOut("You signed out; the token is forgotten.")} />
    </AppContext.Provider>
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const route = useRoute();
  const { session, stream } = useApp();
  useSubscription(stream.onStatus);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) return void (first.current = false);
    (document.querySelector("main h1") as HTMLElement | null)?.focus(); // a new view: its heading, for keyboards and screen readers
  }, [route.view, route.view === "instance" ? route.name + route.tab : ""]);

  const links: Array<[string, string, boolean]> = [
    ["instances", "Instances", true],
    ["create", "Create", session.can("create")],
    ["catalog", "Images and kernels", true],
    ["networks", "Networks", true],
    ["host", session.admin ? "Host" : "Overview", true],
    ["tenants", "Tenants", session.admin],
  ];
  const active = route.view === "instance" ? "instances" : route.view;
  return (
    <>
      {/* a button, not a link to #main: the fragment is the page's route */}
      <button type="button" class="skip" onClick={() => document.getElementById("main")?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <div class="brand">
          <img src={iconUrl} alt="" width={20} height={20} />
          <span>umld</span>
        </div>
        <nav aria-label="Main">
          <ul>
            {links
              .filter(([, , shown]) => shown)
              .map(([view, label]) => (
                <li key={view}>
                  <a href={href(view)} aria-current={active === view ? "page" : undefined}>
                    {label}
                  </a>
                </li>
              ))}
          </ul>
        </nav>
        <div class="who">
          <span class={`live live-${stream.status}`} role="status" title="The event stream">
            {stream.status === "live" ? "Live" : stream.status === "closed" ? "Offline" : "Reconnecting…"}
          </span>
          <span>{session.who}</span>
          <button type="button" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <View route={route} />
      </main>
    </>
  );
}

function View({ route }: { route: Route }) {
  switch (route.view) {
    case "instances":
      return <InstancesView />;
    case "instance":
      return <InstanceView name={route.name} tab={route.tab} />;
    case "create":
      return <CreateView />;
    case "catalog":
      return <CatalogView />;
    case "networks":
      return <NetworksView />;
    case "host":
      return <HostView />;
    case "tenants":
      return <TenantsView />;
  }
}

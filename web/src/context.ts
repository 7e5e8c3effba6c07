import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { EventStream } from "./events.js";
import type { Session } from "./session.js";
import type { InstancesStore } from "./store.js";

/** What every view of a signed-in page shares: the session, the one event stream, the live instances. */
export interface Ctx {
  session: Session;
  stream: EventStream;
  instances: InstancesStore;
}

export const AppContext = createContext<Ctx | null>(null);

export function useApp(): Ctx {
  const c = useContext(AppContext);
  if (!c) throw new Error("useApp outside a signed-in page");
  return c;
}

import { useEffect, useState } from "preact/hooks";

export const INSTANCE_TABS = ["overview", "console", "disks", "network", "snapshots", "kernel", "events"] as const;
export type InstanceTab = (typeof INSTANCE_TABS)[number];

export type Route =
  | { view: "instances" }
  | { view: "instance"; name: string; tab: InstanceTab }
  | { view: "create" }
  | { view: "catalog" }
  | { view: "networks" }
  | { view: "host" }
  | { view: "tenants" };

/** Routes live in the fragment (#/instances/web-1/console): the daemon serves one page, and paths never reach its logs. */
export function parse(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const [first, second, third] = parts;
  switch (first) {
    case "instances":
      if (!second) return { view: "instances" };
      return { view: "instance", name: second, tab: (INSTANCE_TABS as readonly string[]).includes(third ?? "") ? (third as InstanceTab) : "overview" };
    case "create":
    case "catalog":
    case "networks":
    case "host":
    case "tenants":
      return { view: first };
    default:
      return { view: "instances" };
  }
}

export function href(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join("/")}`;
}

export function navigate(...parts: string[]): void {
  location.hash = href(...parts);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const on = () => setRoute(parse(location.hash));
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

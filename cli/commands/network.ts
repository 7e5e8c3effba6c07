import type { BodyIn, ResponseOf } from "../../protocol/contract.js";
import { NetworkKind } from "../../protocol/networks.js";
import { col } from "../output.js";
import type { CommandSpec } from "./command.js";

type NetworkRow = ResponseOf<"listNetworks">["networks"][number];
type ForwardRow = ResponseOf<"listForwards">["forwards"][number];

/** PORT or LISTEN:TARGET */
function ports(spec: string, fail: (m: string) => never): { listenPort: number; targetPort: number } {
  const m = /^(\d{1,5})(?::(\d{1,5}))?$/.exec(spec);
  if (!m) return fail(`a port is PORT or HOSTPORT:GUESTPORT, got '${spec}'`);
  return { listenPort: Number(m[1]), targetPort: Number(m[2] ?? m[1]) };
}

export const networkCommands: CommandSpec[] = [
  {
    name: "net",
    subs: ["ls", "create", "rm", "forward"],
    help: [
      "net ls | rm NAME | create NAME [SUBNET] [--kind switch|host|user] [--nat | --routed | --bridge BR] [--dns] [--ipv6 PREFIX/64] [--host-access]",
      "net forward ls NET | add NET INSTANCE PORT[:GUESTPORT] [--udp] [--address A] | rm NET PORT [--udp] [--address A]",
      "                                     port forwards into a NATed host network (tenants: ports their admin granted)",
      "                                     e.g. net create lan 10.77.0.0/24; net create wan 10.78.0.0/24 --kind host --nat",
      "                                     --host-access (user, admins): its guests reach the host's services at 10.0.2.2",
    ],
    flags: ["kind", "nat", "routed", "bridge", "dns", "ipv6", "host-access", "udp", "address"],
    completes: "network",
    lists: true,
    async run(x) {
      const [sub] = x.args;
      if (sub === "ls") {
        const r = await x.c.call("listNetworks");
        return x.list(
          r,
          r.networks,
          [
            col<NetworkRow>("name", (n) => n.name),
            col<NetworkRow>("kind", (n) => `${n.kind}${n.nat ? "+nat" : ""}${n.routed ? "+routed" : ""}${n.hostAccess ? "+host" : ""}`),
            col<NetworkRow>("subnet", (n) => (n.ipv6 ? `${n.subnet},${n.ipv6}` : n.subnet)),
            col<NetworkRow>("bridge", (n) => n.bridge),
            col<NetworkRow>("nics", (n) => n.nics.map((i) => `${i.instance}:${i.slot}=${i.ip}`).join(",") || null),
          ],
          "no networks",
        );
      }
      if (sub === "forward") return forward(x);
      const name = x.arg(1, `net ${sub ?? "ls | create | rm | forward"} NAME`);
      if (sub === "create") {
        const body: BodyIn<"createNetwork"> = { name };
        if (x.args[2]) body.subnet = x.args[2];
        if (x.v.kind) body.kind = x.field(NetworkKind, x.v.kind, "body.kind");
        if (x.v.nat) body.nat = true;
        if (x.v.routed) body.mode = "routed";
        if (x.v.dns) body.dns = true;
        if (typeof x.v.ipv6 === "string") body.ipv6 = x.v.ipv6;
        if (typeof x.v.bridge === "string") {
          body.mode = "bridged";
          body.bridge = x.v.bridge;
        }
        if (x.v["host-access"]) body.hostAccess = true;
        const r = await x.c.call("createNetwork", { body });
        return x.out(
          r,
          `created network ${r.name} (${r.kind}${r.nat ? ", NAT" : ""}${r.routed ? ", routed" : ""}${r.hostAccess ? ", host access" : ""}, ${r.subnet}${r.ipv6 ? ` and ${r.ipv6}` : ""}${r.gateway ? `, host at ${r.gateway}` : ""}${r.bridge ? ` on ${r.bridge}` : ""})`,
        );
      }
      if (sub === "rm") return x.out(await x.c.call("deleteNetwork", { params: { name } }), `deleted network ${name}`);
      x.fail("net ls | create | rm | forward");
    },
  },
  {
    name: "nic",
    subs: ["add", "rm"],
    help: ["nic add NAME NETWORK [--ip A] | rm NAME SLOT  NICs (live if running; rm needs the interface down in the guest; --ip: bridged networks)"],
    flags: ["ip"],
    completes: "instance",
    async run(x) {
      const [sub] = x.args;
      const inst = x.arg(1, `nic ${sub ?? "add | rm"} NAME ...`);
      if (sub === "add") {
        const r = await x.c.call("attachNic", { params: { name: inst }, body: { network: x.arg(2, "nic add NAME NETWORK"), ...(typeof x.v.ip === "string" ? { ip: x.v.ip } : {}) } });
        return x.out(r, `${inst}: ${r.slot} on ${r.network}, ${r.ip}${r.ipv6 ? ` and ${r.ipv6}` : ""} (${r.mac})${r.live ? " (live)" : ""}`);
      }
      if (sub === "rm") {
        const slot = x.arg(2, "nic rm NAME SLOT");
        return x.out(await x.c.call("detachNic", { params: { name: inst, slot } }), `${inst}: ${slot} removed`);
      }
      x.fail("nic add | rm");
    },
  },
];

async function forward(x: Parameters<CommandSpec["run"]>[0]): Promise<void> {
  const op = x.args[1];
  const name = x.arg(2, `net forward ${op ?? "ls | add | rm"} NET ...`);
  const protocol = x.v.udp ? "udp" : "tcp";
  const listenAddress = typeof x.v.address === "string" ? x.v.address : undefined;
  if (op === "ls") {
    const r = await x.c.call("listForwards", { params: { name } });
    return x.list(
      r,
      r.forwards,
      [
        col<ForwardRow>("protocol", (f) => f.protocol),
        col<ForwardRow>("listen", (f) => `${f.listenAddress ?? "*"}:${f.listenPort}`),
        col<ForwardRow>("instance", (f) => f.instance),
        col<ForwardRow>("target", (f) => `${f.targetAddress}:${f.targetPort}`),
      ],
      "no forwards",
    );
  }
  if (op === "add") {
    const instance = x.arg(3, "net forward add NET INSTANCE PORT[:GUESTPORT]");
    const p = ports(x.arg(4, "net forward add NET INSTANCE PORT[:GUESTPORT]"), x.fail);
    const r = await x.c.call("createForward", { params: { name }, body: { instance, protocol, ...p, ...(listenAddress ? { listenAddress } : {}) } });
    return x.out(r, `${r.protocol} ${r.listenAddress ?? "*"}:${r.listenPort} -> ${r.instance} ${r.targetAddress}:${r.targetPort}`);
  }
  if (op === "rm") {
    const port = x.arg(3, "net forward rm NET PORT");
    const r = await x.c.call("deleteForward", { params: { name, protocol, port: Number(port) }, query: listenAddress ? { listenAddress } : {} });
    return x.out(r, `removed forward ${r.deleted} on ${name}`);
  }
  x.fail("net forward ls | add | rm");
}

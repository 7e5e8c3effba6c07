import type { z } from "zod";
import type { BulkAction } from "../../protocol/bulk-actions.js";
import type { AttachDiskRequest } from "../../protocol/disks.js";
import type { MconsoleRequest } from "../../protocol/guest.js";
import type { BuildImageRequest, ImportImageRequest } from "../../protocol/images.js";
import type { ForwardProtocol, NetworkKind } from "../../protocol/networks.js";
import type { CloneRequest, MergeRequest } from "../../protocol/snapshots.js";
import type { Access, Permission, Quotas } from "../../protocol/tenants.js";
import type { InstanceState } from "../../protocol/instances.js";
import type { CreateInstance } from "../instances/commands.js";
import type { PatchRequest } from "../instances/patch.js";

/** What every state-changing verb of an instance takes. */
interface ActionArgs {
  name: string;
  /** false: answered at once (202) with the running operation */
  wait: boolean;
  timeoutS?: number;
}

/**
 * The one command vocabulary: every write, whoever asks (HTTP, WebSocket, the
 * CLI and the web UI through HTTP, the daemon's own restart policies), is one
 * of these, run by `Dispatcher.execute` (dispatch.ts). Names are as the actor
 * sees them; the dispatcher puts them in the actor's namespace.
 */
export interface CommandArgs {
  "instance.create": CreateInstance;
  "instance.delete": { name: string; force: boolean };
  "instance.start": ActionArgs;
  "instance.shutdown": ActionArgs;
  "instance.halt": ActionArgs;
  "instance.reboot": ActionArgs;
  "instance.pause": ActionArgs;
  "instance.resume": ActionArgs;
  "instance.upgrade-kernel": ActionArgs & { kernel?: string; deadlineS?: number };
  /** one lifecycle action on many instances: each runs as its own instance.<action> for the same actor (bulk.ts) */
  "instance.bulk": {
    action: BulkAction;
    names?: string[];
    selector?: { state?: InstanceState; tenant?: string; namePrefix?: string };
    wait: boolean;
    timeoutS?: number;
  };
  /** memory (set-memory, live), memory ceiling, disk quota, policies, granted host directory */
  "instance.configure": { name: string; changes: PatchRequest };
  "instance.mconsole": { name: string; request: z.output<typeof MconsoleRequest> };
  "instance.clone": { name: string; clone: z.output<typeof CloneRequest> };
  "instance.merge": { name: string; merge: z.output<typeof MergeRequest> };
  "snapshot.create": { instance: string; name: string; wait: boolean };
  "snapshot.restore": { instance: string; name: string };
  "snapshot.delete": { instance: string; name: string };
  "disk.attach": { instance: string; disk: z.output<typeof AttachDiskRequest> };
  "disk.detach": { instance: string; slot: string };
  "disk.delete": { name: string };
  "channel.add": { instance: string; channel: string };
  "channel.remove": { instance: string; channel: string };
  "nic.attach": { instance: string; network: string; mac?: string; ip?: string };
  "nic.detach": { instance: string; slot: string };
  "network.create": { name: string; networkKind: NetworkKind; subnet?: string; nat: boolean; routed: boolean; bridge?: string; dns: boolean; hostAccess: boolean; ipv6?: string };
  "network.delete": { name: string };
  "forward.add": { network: string; instance: string; protocol: ForwardProtocol; listenAddress: string | null; listenPort: number; targetPort: number };
  "forward.remove": { network: string; protocol: ForwardProtocol; listenPort: number; listenAddress: string | null };
  "image.import": { request: z.output<typeof ImportImageRequest> };
  "image.build": { request: z.output<typeof BuildImageRequest> };
  "image.delete": { name: string };
  "kernel.register": { name?: string; path: string; makeDefault: boolean };
  "kernel.delete": { name: string };
  "kernel.rollout": { kernel: string; selector: { instances?: string[]; kernel?: string; image?: string }; batchSize: number; deadlineS?: number; wait: boolean };
  "host.shutdown-guests": { deadlineS: number };
  "tenant.create": { name: string; quotas: Quotas };
  "tenant.update": { name: string; quotas?: Quotas };
  "tenant.delete": { name: string };
  "token.create": { tenant: string; name: string; actions: Permission[]; expiresInS?: number };
  "token.revoke": { tenant: string; token: string };
}

export type CommandKind = keyof CommandArgs;
export type CommandOf<K extends CommandKind> = { kind: K } & CommandArgs[K];
export type Command = { [K in CommandKind]: CommandOf<K> }[CommandKind];

/** The instance verbs an instance's state changes by (the protocol's actions). */
export const INSTANCE_VERBS = {
  start: "instance.start",
  shutdown: "instance.shutdown",
  halt: "instance.halt",
  reboot: "instance.reboot",
  pause: "instance.pause",
  resume: "instance.resume",
  upgrade: "instance.upgrade-kernel",
} as const;
export type InstanceVerb = (typeof INSTANCE_VERBS)[keyof typeof INSTANCE_VERBS];
const VERBS: ReadonlySet<CommandKind> = new Set(Object.values(INSTANCE_VERBS));

export function isInstanceVerb(cmd: Command): cmd is CommandOf<InstanceVerb> {
  return VERBS.has(cmd.kind);
}

/**
 * What a principal needs to give each command. A tenant token's actions are
 * checked against it (reboot alone allows start and reboot: restarting a
 * crashed guest, nothing else); admins give every command.
 */
export const COMMAND_ACCESS: Record<CommandKind, Access> = {
  "instance.create": "create",
  "instance.delete": "delete",
  "instance.start": "power",
  "instance.shutdown": "power",
  "instance.halt": "power",
  "instance.reboot": "power",
  "instance.pause": "power",
  "instance.resume": "power",
  "instance.upgrade-kernel": "power",
  "instance.bulk": "power",
  "instance.configure": "configure",
  "instance.mconsole": "admin",
  "instance.clone": "create",
  "instance.merge": "admin",
  "snapshot.create": "snapshot",
  "snapshot.restore": "snapshot",
  "snapshot.delete": "snapshot",
  "disk.attach": "configure",
  "disk.detach": "configure",
  "disk.delete": "delete",
  "channel.add": "configure",
  "channel.remove": "configure",
  "nic.attach": "network",
  "nic.detach": "network",
  "network.create": "network",
  "network.delete": "network",
  "forward.add": "network",
  "forward.remove": "network",
  "image.import": "admin",
  "image.build": "admin",
  "image.delete": "delete",
  "kernel.register": "admin",
  "kernel.delete": "admin",
  "kernel.rollout": "admin",
  "host.shutdown-guests": "admin",
  "tenant.create": "admin",
  "tenant.update": "admin",
  "tenant.delete": "admin",
  "token.create": "admin",
  "token.revoke": "admin",
};

/** Commands that run as an operation and may be answered at once (202) when `wait` is false; null: always answered when done. */
export function waits<K extends CommandKind>(command: CommandOf<K>): boolean | null {
  const cmd = command as Command; // a CommandOf<K> is one member of Command (TypeScript cannot relate the two; microsoft/TypeScript#30581)
  if (isInstanceVerb(cmd)) return cmd.wait;
  switch (cmd.kind) {
    case "snapshot.create":
    case "kernel.rollout":
      return cmd.wait;
    case "instance.clone":
      return cmd.clone.wait;
    case "instance.merge":
      return cmd.merge.wait;
    case "image.import":
    case "image.build":
      return cmd.request.wait;
    default:
      return null;
  }
}

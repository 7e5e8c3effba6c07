import type { BulkActionResult } from "../../protocol/bulk-actions.js";
import type { InstanceAction } from "../../protocol/instances.js";
import { UmldError } from "../errors.js";
import type { EventBus } from "../events/bus.js";
import type { Instances } from "../instances/instances.js";
import type { Operations } from "../operations/operations.js";
import type { Catalog } from "../storage/catalog.js";
import type { ImageOperations } from "../storage/image-operations.js";
import type { Tenants } from "../tenants/tenants.js";
import type { CommandArgs, CommandKind, CommandOf } from "./command.js";

/** The services commands act on: everything core is made of, wired by the daemon. */
export interface CoreServices {
  instances: Instances;
  catalog: Catalog;
  images: ImageOperations;
  tenants: Tenants;
  operations: Operations;
  bus: EventBus;
}

type Verb = CommandArgs["instance.upgrade-kernel"];
/** An instance verb: one action of the instance's lifecycle (lifecycle.ts has the table of which state allows which). */
const verb = (action: InstanceAction) => (s: CoreServices, c: Verb) => s.instances.act(c.name, action, { timeoutS: c.timeoutS, wait: c.wait, kernel: c.kernel, deadlineS: c.deadlineS });

/**
 * One handler per command: the call into the service that owns what it
 * changes. Names are already in the actor's namespace (dispatch.ts); nothing
 * here calls back into the caller.
 */
export const handlers = {
  "instance.create": (s: CoreServices, { kind: _, ...create }: CommandOf<"instance.create">) => s.instances.create(create),
  "instance.delete": (s: CoreServices, c: CommandOf<"instance.delete">) => s.instances.delete(c.name, c.force),
  "instance.start": verb("start"),
  "instance.shutdown": verb("shutdown"),
  "instance.halt": verb("halt"),
  "instance.reboot": verb("reboot"),
  "instance.pause": verb("pause"),
  "instance.resume": verb("resume"),
  "instance.upgrade-kernel": verb("upgrade"),
  // its items are commands of their own, run by the dispatcher for the actor (dispatch.ts, bulk.ts)
  "instance.bulk": (_s: CoreServices, _c: CommandOf<"instance.bulk">): Promise<BulkActionResult> => Promise.reject(new UmldError("internal", "a bulk action is run by the dispatcher")),
  "instance.configure": (s: CoreServices, c: CommandOf<"instance.configure">) => s.instances.patch(c.name, c.changes),
  "instance.mconsole": (s: CoreServices, c: CommandOf<"instance.mconsole">) => s.instances.io.passthrough(c.name, c.request),
  "instance.clone": (s: CoreServices, c: CommandOf<"instance.clone">) => s.instances.snapshots.clone(c.name, c.clone),
  "instance.merge": (s: CoreServices, c: CommandOf<"instance.merge">) => s.instances.snapshots.merge(c.name, c.merge),
  "snapshot.create": (s: CoreServices, c: CommandOf<"snapshot.create">) => s.instances.snapshots.snapshot(c.instance, c.name, c.wait),
  "snapshot.restore": (s: CoreServices, c: CommandOf<"snapshot.restore">) => s.instances.snapshots.restore(c.instance, c.name),
  "snapshot.delete": (s: CoreServices, c: CommandOf<"snapshot.delete">) => s.instances.snapshots.deleteSnapshot(c.instance, c.name),
  "disk.attach": (s: CoreServices, c: CommandOf<"disk.attach">) => s.instances.disks.attach(c.instance, c.disk),
  "disk.detach": (s: CoreServices, c: CommandOf<"disk.detach">) => s.instances.disks.detach(c.instance, c.slot),
  "disk.delete": (s: CoreServices, c: CommandOf<"disk.delete">) => s.instances.disks.delete(c.name),
  "channel.add": (s: CoreServices, c: CommandOf<"channel.add">) => s.instances.io.addChannel(c.instance, c.channel),
  "channel.remove": (s: CoreServices, c: CommandOf<"channel.remove">) => s.instances.io.removeChannel(c.instance, c.channel),
  "nic.attach": (s: CoreServices, c: CommandOf<"nic.attach">) => s.instances.networks.attach(c.instance, c.network, c.mac, c.ip),
  "nic.detach": (s: CoreServices, c: CommandOf<"nic.detach">) => s.instances.networks.detach(c.instance, c.slot),
  "network.create": (s: CoreServices, c: CommandOf<"network.create">) => s.instances.networks.create(c.name, c.networkKind, c.subnet, c.nat, c.hostAccess, c.routed, c.bridge, c.dns, c.ipv6),
  "network.delete": (s: CoreServices, c: CommandOf<"network.delete">) => s.instances.networks.delete(c.name),
  "forward.add": (s: CoreServices, { kind: _, ...f }: CommandOf<"forward.add">) => s.instances.networks.forwards.add(f),
  "forward.remove": (s: CoreServices, { kind: _, ...f }: CommandOf<"forward.remove">) => s.instances.networks.forwards.remove(f),
  "image.import": (s: CoreServices, c: CommandOf<"image.import">) => s.images.import(c.request),
  "image.build": (s: CoreServices, c: CommandOf<"image.build">) => s.images.build(c.request),
  "image.delete": (s: CoreServices, c: CommandOf<"image.delete">) => s.images.delete(c.name),
  "kernel.register": (s: CoreServices, c: CommandOf<"kernel.register">) => s.catalog.registerKernel(c.name, c.path, c.makeDefault),
  "kernel.delete": (s: CoreServices, c: CommandOf<"kernel.delete">) => {
    s.catalog.deleteKernel(c.name, (id) => s.instances.kernelUsers(id));
    return { deleted: c.name };
  },
  "kernel.rollout": (s: CoreServices, c: CommandOf<"kernel.rollout">) => s.instances.rollout(c.kernel, c.selector, c.batchSize, c.deadlineS, c.wait),
  "host.shutdown-guests": (s: CoreServices, c: CommandOf<"host.shutdown-guests">) => s.instances.shutdownGuests(c.deadlineS),
  "tenant.create": (s: CoreServices, c: CommandOf<"tenant.create">) => s.tenants.create(c.name, c.quotas),
  "tenant.update": (s: CoreServices, c: CommandOf<"tenant.update">) => s.tenants.update(c.name, c.quotas),
  "tenant.delete": (s: CoreServices, c: CommandOf<"tenant.delete">) => s.tenants.delete(c.name),
  "token.create": (s: CoreServices, c: CommandOf<"token.create">) => s.tenants.createToken(c.tenant, c.name, c.actions, c.expiresInS),
  "token.revoke": (s: CoreServices, c: CommandOf<"token.revoke">) => s.tenants.revokeToken(c.tenant, c.token),
} satisfies { [K in CommandKind]: (s: CoreServices, c: CommandOf<K>) => unknown };

/** What a command answers, by kind: the handler's own return type, so routes are typed without casts. */
export type CommandResult<K extends CommandKind> = Awaited<ReturnType<(typeof handlers)[K]>>;

export function runCommand<K extends CommandKind>(s: CoreServices, cmd: CommandOf<K>): Promise<CommandResult<K>> {
  const handler = handlers[cmd.kind] as unknown as (s: CoreServices, c: CommandOf<K>) => CommandResult<K> | Promise<CommandResult<K>>;
  return Promise.resolve(handler(s, cmd));
}

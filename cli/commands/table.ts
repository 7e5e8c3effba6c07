import type { CommandSpec } from "./command.js";
import { guestCommands } from "./guest.js";
import { hostCommands } from "./host.js";
import { instanceCommands } from "./instances.js";
import { kernelCommands } from "./kernels.js";
import { networkCommands } from "./network.js";
import { storageCommands } from "./storage.js";
import { tenantCommands } from "./tenants.js";
import { topCommand } from "./top.js";

/** Every umlctl command, in the order the help lists them. */
export const COMMANDS: CommandSpec[] = [
  ...instanceCommands,
  ...guestCommands,
  topCommand,
  ...storageCommands,
  ...kernelCommands,
  ...networkCommands,
  ...tenantCommands,
  ...hostCommands,
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

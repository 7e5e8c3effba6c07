import { bashCompletion, zshCompletion } from "../completion.js";
import type { CommandSpec } from "./command.js";
import { actionCommand } from "./bulk.js";
import { guestCommands } from "./guest.js";
import { hostCommands } from "./host.js";
import { instanceCommands } from "./instances.js";
import { kernelCommands } from "./kernels.js";
import { networkCommands } from "./network.js";
import { resourceCommands } from "./resources.js";
import { storageCommands } from "./storage.js";
import { tenantCommands } from "./tenants.js";
import { topCommand } from "./top.js";

const completion: CommandSpec = {
  name: "completion",
  subs: ["bash", "zsh"],
  help: ["completion bash|zsh                  a shell completion script: source <(umlctl completion bash)"],
  async run(x) {
    const shell = x.arg(0, "completion bash|zsh");
    if (shell === "bash") process.stdout.write(bashCompletion(COMMANDS));
    else if (shell === "zsh") process.stdout.write(zshCompletion(COMMANDS));
    else x.fail("completion bash|zsh");
  },
};

/** Every umlctl command, in the order the help lists them. */
export const COMMANDS: CommandSpec[] = [
  ...instanceCommands,
  actionCommand,
  ...resourceCommands,
  ...guestCommands,
  topCommand,
  ...storageCommands,
  ...kernelCommands,
  ...networkCommands,
  ...tenantCommands,
  ...hostCommands,
  completion,
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

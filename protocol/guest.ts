import { z } from "zod";
import { OwnedName } from "./names.js";

/** What the mconsole passthrough accepts; halt/reboot/stop/go go through the lifecycle API instead. */
export const MCONSOLE_PASSTHROUGH = ["version", "help", "proc", "sysrq", "stack", "log", "cad", "config"] as const;

export const MconsoleCommand = z.enum(MCONSOLE_PASSTHROUGH);

export const MconsoleRequest = z
  .object({
    command: MconsoleCommand,
    args: z
      .union([
        z.string(),
        z
          .array(z.string())
          .max(32)
          .transform((a) => a.join(" ")),
      ])
      .pipe(
        z
          .string()
          .max(400)
          .regex(/^[\x20-\x7e]*$/, "printable ASCII, no newlines"),
      )
      .default("")
      .describe("the command's arguments, as one string or a list"),
    force: z.boolean().default(false).describe("allow a sysrq that is known to crash or stop the guest"),
  })
  .strict();
export type MconsoleRequest = z.input<typeof MconsoleRequest>;

export const MconsoleResponse = z.object({ command: z.string(), reply: z.string() });

export const GuestFacts = z.object({
  kernelVersion: z.string().describe("the guest kernel's version line"),
  hostname: z.string(),
  uptimeS: z.number(),
  idleS: z.number(),
  load: z.tuple([z.number(), z.number(), z.number()]),
  memTotalKiB: z.number().int(),
  memFreeKiB: z.number().int(),
  memAvailableKiB: z.number().int().nullable(),
});
export type GuestFacts = z.infer<typeof GuestFacts>;

/** Extra consoles (con1..con15) and serial lines (ssl0..ssl63); con0 is the main console. */
export const ConsoleChannel = z.string().regex(/^(con([1-9]|1[0-5])|ssl([0-9]|[1-5][0-9]|6[0-3]))$/, "con1..con15 or ssl0..ssl63");
export const AddChannelRequest = z.object({ channel: ConsoleChannel }).strict();
export const ChannelParams = z.object({ name: OwnedName, channel: ConsoleChannel }).strict();
export const ChannelView = z.object({
  channel: z.string(),
  hostPty: z.string().nullable().describe("the host pty UML allocated, once the guest opened the line"),
  guestDevice: z.string().describe("e.g. /dev/ttyS0 for ssl0, /dev/tty1 for con1"),
});
export type ChannelView = z.infer<typeof ChannelView>;

export const ChannelList = z.object({ channels: z.array(ChannelView) });
export const RemoveChannelResult = z.object({ removed: z.string().describe("the channel") });
/** Query of the console WebSocket. */
export const ConsoleQuery = z
  .object({
    scrollback: z.enum(["0", "1"]).optional().describe("0: skip the replay of the scrollback"),
    channel: ConsoleChannel.optional().describe("an extra console or serial line instead of the main console"),
  })
  .strict();

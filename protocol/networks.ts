import { z } from "zod";
import { Name } from "./names.js";

export const CreateNetworkRequest = z
  .object({
    name: Name,
    kind: z.enum(["switch"]).default("switch").describe("switch: an isolated L2 segment between guests on this host (uml_switch)"),
    subnet: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, "an IPv4 CIDR such as 10.77.0.0/24"),
  })
  .strict();

export const NetworkView = z.object({
  name: z.string(),
  kind: z.enum(["switch"]),
  subnet: z.string(),
  switchPid: z.number().int().nullable(),
  nics: z.array(z.object({ instance: z.string(), slot: z.string(), ip: z.string(), mac: z.string() })),
  createdAt: z.string(),
});
export type NetworkView = z.infer<typeof NetworkView>;

export const NicView = z.object({
  slot: z.string().describe("eth0..eth15"),
  network: z.string(),
  mac: z.string().describe("fe:<prefix>:<address>: the guest reads its address from it"),
  ip: z.string(),
});
export type NicView = z.infer<typeof NicView>;

export const AttachNicRequest = z.object({ network: Name }).strict();
export const NetworkNameParams = z.object({ name: Name }).strict();
export const NicSlotParams = z.object({ name: Name, slot: z.string().regex(/^eth([0-9]|1[0-5])$/, "eth0..eth15") }).strict();

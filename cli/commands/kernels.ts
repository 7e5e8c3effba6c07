import type { BodyIn, ResponseOf } from "../../protocol/contract.js";
import { col } from "../output.js";
import { withProgress, withSpinner } from "../progress.js";
import type { CommandSpec } from "./command.js";

type KernelRow = ResponseOf<"listKernels">["kernels"][number];

export const kernelCommands: CommandSpec[] = [
  {
    name: "kernel",
    subs: ["ls", "add", "rm", "upgrade", "stage", "rollout"],
    help: [
      "kernel ls | add NAME PATH [--default] | rm NAME",
      "kernel upgrade INSTANCE KERNEL [--deadline S]   boot it now, rolled back if it fails",
      "kernel stage INSTANCE KERNEL|none   boot it at the next start",
      "kernel rollout KERNEL [--instances a,b] [--image IMG] [--from-kernel K] [--batch N] [--deadline S]",
    ],
    flags: ["default", "deadline", "instances", "image", "from-kernel", "batch"],
    completes: "kernel",
    lists: true,
    async run(x) {
      const [sub] = x.args;
      if (sub === "ls") {
        const r = await x.c.call("listKernels");
        return x.list(
          r,
          r.kernels,
          [
            col<KernelRow>("name", (k) => k.name),
            col<KernelRow>("version", (k) => k.version),
            col<KernelRow>(
              "sha256",
              (k) => k.sha256,
              (k) => k.sha256.slice(0, 12),
            ),
            col<KernelRow>("default", (k) => k.isDefault),
          ],
          "no kernels",
        );
      }
      const a1 = x.arg(1, `kernel ${sub ?? "ls | add | rm | upgrade | stage | rollout"} ...`);
      switch (sub) {
        case "add": {
          const r = await x.c.call("registerKernel", { body: { name: a1, path: x.arg(2, "kernel add NAME PATH"), makeDefault: Boolean(x.v.default) } });
          return x.out(r, `registered ${r.name} (${r.version}, sha256 ${r.sha256.slice(0, 12)})`);
        }
        case "rm":
          return x.out(await x.c.call("deleteKernel", { params: { name: a1 } }), `deleted ${a1}`);
        case "upgrade": {
          const body: BodyIn<"changeState"> = { action: "upgrade", kernel: x.arg(2, "kernel upgrade INSTANCE KERNEL") };
          if (x.v.deadline) body.deadlineS = Number(x.v.deadline);
          const r = await withSpinner(`upgrading ${a1}`, x.c.call("changeState", { params: { name: a1 }, body }));
          return x.out(r, `${a1}: running ${r.instance.bootedKernel}`);
        }
        case "stage": {
          const k = x.arg(2, "kernel stage INSTANCE KERNEL|none");
          const r = await x.c.call("patchInstance", { params: { name: a1 }, body: { kernel: k === "none" ? null : k } });
          return x.out(r, `${a1}: next start boots ${r.instance.stagedKernel ?? r.instance.kernel}`);
        }
        case "rollout": {
          const selector: BodyIn<"rollout">["selector"] = {};
          if (x.v.instances) selector.instances = x.v.instances.split(",");
          if (x.v.image) selector.image = x.v.image;
          if (x.v["from-kernel"]) selector.kernel = x.v["from-kernel"];
          const body: BodyIn<"rollout"> = { selector, batchSize: Number(x.v.batch ?? 1), wait: false };
          if (x.v.deadline) body.deadlineS = Number(x.v.deadline);
          const r = await withProgress(x.c, () => x.c.call("rollout", { params: { name: a1 }, body }), `rolling ${a1} out`);
          const res = r.result as { upgraded?: string[] } | null;
          if (r.error) x.fail(`${r.error.code}: ${r.error.message}`, 1);
          return x.out(r, `upgraded: ${res?.upgraded?.join(", ") || "-"}`);
        }
        default:
          x.fail("kernel ls | add | rm | upgrade | stage | rollout");
      }
    },
  },
  {
    name: "kernels",
    help: ["kernels                              the kernel list as JSON (kernel ls for a table)"],
    async run(x) {
      x.out(await x.c.call("listKernels"));
    },
  },
];

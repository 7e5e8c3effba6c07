import { BULK_ACTIONS, BulkAction, type BulkActionRequest, type BulkItem } from "../../protocol/bulk-actions.js";
import { InstanceState } from "../../protocol/instances.js";
import { col } from "../output.js";
import { withSpinner } from "../progress.js";
import type { CommandSpec } from "./command.js";

const RESULT_COLUMNS = [
  col<BulkItem>("name", (r) => r.name),
  col<BulkItem>("ok", (r) => r.ok),
  col<BulkItem>("operation", (r) => r.operation?.id ?? null),
  col<BulkItem>("status", (r) => r.operation?.status ?? null),
  col<BulkItem>("error", (r) => (r.error ? `${r.error.code}: ${r.error.message}` : null)),
];

/** `umlctl action ACTION NAME... | --all | --state S [--prefix P]`: one lifecycle action on many instances. */
export const actionCommand: CommandSpec = {
  name: "action",
  subs: [...BULK_ACTIONS, "stop"],
  help: [
    `action ${BULK_ACTIONS.join("|")}|stop NAME... | --all | --state S [--prefix P] [--no-wait] [--timeout S]`,
    "                                     one action on many instances (stop = shutdown); --all/--state/--prefix select",
    "                                     those whose state allows it; one line per instance, exit status 1 if any failed",
  ],
  flags: ["all", "state", "prefix", "no-wait", "timeout"],
  completes: "instance",
  lists: true,
  async run(x) {
    const word = x.arg(0, `action needs an ACTION (${BULK_ACTIONS.join(", ")}, stop) and NAMEs or --all/--state`);
    const action = x.field(BulkAction, word === "stop" ? "shutdown" : word, "body.action");
    const names = x.args.slice(1);
    const selecting = Boolean(x.v.all || x.v.state || x.v.prefix);
    if (names.length > 0 === selecting) x.fail("action takes instance NAMEs, or --all / --state S / --prefix P (not both)");
    const body: BulkActionRequest = { action, wait: !x.v["no-wait"] };
    if (names.length) body.names = names;
    else {
      body.selector = {};
      if (x.v.state) body.selector.state = x.field(InstanceState, x.v.state, "body.selector.state");
      if (x.v.prefix) body.selector.namePrefix = x.v.prefix;
    }
    if (x.v.timeout) body.timeoutS = Number(x.v.timeout);
    const r = await withSpinner(`${action} ${names.length ? names.join(" ") : "selected instances"}`, x.c.call("bulkAction", { body }));
    x.list(r, r.results, RESULT_COLUMNS, "no instance matched");
    if (r.failed > 0) process.exitCode = 1;
  },
};

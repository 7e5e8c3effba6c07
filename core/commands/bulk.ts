import { ACTIONS_IN_STATE, type InstanceState } from "../../protocol/instances.js";
import { BULK_MAX, type BulkAction, type BulkActionResult, type BulkItem } from "../../protocol/bulk-actions.js";
import { UmldError } from "../errors.js";
import type { InstanceRow } from "../store/instances-repo.js";
import { prefixOf, type Principal } from "../tenants/principal.js";
import { INSTANCE_VERBS, type CommandOf } from "./command.js";

type Bulk = CommandOf<"instance.bulk">;
/** One instance's action, run like a single request by the same principal (the dispatcher's execute). */
type RunOne = (cmd: CommandOf<(typeof INSTANCE_VERBS)[BulkAction]>) => Promise<{ operation: BulkItem["operation"] }>;

/** Items started between two yields to the event loop: a thousand starts never hold the API for one long turn. */
const SLICE = 25;

/**
 * A lifecycle action on many instances: each one is the single command
 * (`instance.start`...) run for the same principal, so it is authorized,
 * namespaced and refused exactly as alone, and answered on its own (one bad
 * instance does not fail the rest). Names are the caller's (a tenant's
 * plain names); a selector picks from what the caller sees.
 */
export async function runBulk(cmd: Bulk, actor: Principal, rows: () => readonly InstanceRow[], runOne: RunOne): Promise<BulkActionResult> {
  const names = cmd.names ?? select(cmd, actor, rows());
  const kind = INSTANCE_VERBS[cmd.action];
  const one = async (name: string): Promise<BulkItem> => {
    try {
      const r = await runOne({ kind, name, wait: cmd.wait, ...(cmd.timeoutS !== undefined ? { timeoutS: cmd.timeoutS } : {}) });
      return { name, ok: true, operation: r.operation, error: null };
    } catch (e) {
      const err = e instanceof UmldError ? e.toPlain() : { code: "internal", message: (e as Error).message };
      return { name, ok: false, operation: null, error: err };
    }
  };
  const pending: Array<Promise<BulkItem>> = [];
  for (let i = 0; i < names.length; i++) {
    if (i > 0 && i % SLICE === 0) await new Promise((r) => setImmediate(r));
    const p = one(names[i]!);
    if (!cmd.wait) await p; // accepted in order; waiting ones run side by side (boots are bounded by the boot queue)
    pending.push(p);
  }
  const results = await Promise.all(pending);
  const succeeded = results.filter((r) => r.ok).length;
  return { action: cmd.action, results, succeeded, failed: results.length - succeeded };
}

/** The caller's names of the instances it sees that match the selector and whose state allows the action. */
function select(cmd: Bulk, actor: Principal, all: readonly InstanceRow[]): string[] {
  const sel = cmd.selector ?? {};
  if (sel.tenant !== undefined && actor.kind !== "admin") throw new UmldError("forbidden", "selecting by tenant is for admins", { needs: "admin", field: "selector.tenant" });
  if (sel.tenant !== undefined && actor.tenant !== null && sel.tenant !== actor.tenant) {
    throw new UmldError("invalid_request", "selector.tenant names another tenant than the one acted for (Umld-Tenant)", { field: "selector.tenant" });
  }
  const own = actor.tenant !== null ? prefixOf(actor.tenant) : "";
  const within = sel.tenant !== undefined ? prefixOf(sel.tenant) : own;
  const allowed = (s: InstanceState) => (ACTIONS_IN_STATE[s] as readonly string[]).includes(cmd.action);
  const names = all
    .filter((r) => r.name.startsWith(within) && (sel.state === undefined || r.state === sel.state) && allowed(r.state))
    .map((r) => r.name.slice(own.length)) // the caller's name: the dispatcher puts it back in its namespace
    .filter((n) => sel.namePrefix === undefined || n.slice(within.length - own.length).startsWith(sel.namePrefix));
  if (names.length > BULK_MAX) {
    throw new UmldError("invalid_request", `the selector matches ${names.length} instances, more than the ${BULK_MAX} one action may take: narrow it`, { matched: names.length, max: BULK_MAX });
  }
  return names;
}

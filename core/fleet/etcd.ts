/**
 * A small etcd v3 client over its JSON gateway (`/v3/...`, etcd 3.4+) with
 * Node's fetch: keys and values are base64 on the wire, int64s are strings.
 * The npm `etcd3` client is unmaintained; umld needs a few calls, each
 * written out here. Endpoints are tried in turn: the last one that answered
 * first.
 */

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  /** the lease the key is attached to ("0": none) */
  lease: string;
}

/** An etcd answer that is an error (its gRPC code and message), or an endpoint nobody could reach. */
export class EtcdError extends Error {
  override readonly name = "EtcdError";
  constructor(
    message: string,
    /** the gRPC status code etcd answered with; null: no endpoint answered */
    readonly grpcCode: number | null,
  ) {
    super(message);
  }
}

type CompareTarget = "CREATE" | "MOD" | "VERSION" | "VALUE";
type CompareResult = "EQUAL" | "GREATER" | "LESS" | "NOT_EQUAL";
export interface Compare {
  key: string;
  target: CompareTarget;
  result: CompareResult;
  value: number | string;
}

/** Conditions of a transaction. */
export const Cmp = {
  /** the key does not exist */
  absent: (key: string): Compare => ({ key, target: "CREATE", result: "EQUAL", value: 0 }),
  /** the key was last changed at exactly this revision (0: it does not exist) */
  modRevision: (key: string, rev: number): Compare => ({ key, target: "MOD", result: "EQUAL", value: rev }),
  value: (key: string, value: string): Compare => ({ key, target: "VALUE", result: "EQUAL", value }),
};

export type Op = { put: { key: string; value: string; lease?: string } } | { del: { key: string; prefix?: boolean } } | { get: { key: string; prefix?: boolean } };

export const Ops = {
  put: (key: string, value: string, lease?: string): Op => ({ put: { key, value, ...(lease ? { lease } : {}) } }),
  del: (key: string): Op => ({ del: { key } }),
  delPrefix: (prefix: string): Op => ({ del: { key: prefix, prefix: true } }),
  get: (key: string): Op => ({ get: { key } }),
};

export interface TxnResult {
  succeeded: boolean;
  revision: number;
  /** what each get of the branch that ran found */
  ranges: KeyValue[][];
}

export interface WatchEvent {
  type: "put" | "delete";
  kv: KeyValue;
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, "base64").toString("utf8") : "");

/** The end of the key range of every key starting with `prefix` (etcd's range_end). */
export function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix, "utf8");
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i]!++;
      return end.toString("base64");
    }
  }
  return Buffer.from([0]).toString("base64"); // every key
}

interface RawKv {
  key: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
  lease?: string;
}

function kvOf(r: RawKv): KeyValue {
  return {
    key: unb64(r.key),
    value: unb64(r.value),
    createRevision: Number(r.create_revision ?? 0),
    modRevision: Number(r.mod_revision ?? 0),
    version: Number(r.version ?? 0),
    lease: r.lease ?? "0",
  };
}

function rangeRequest(key: string, prefix: boolean | undefined): Record<string, string> {
  return prefix ? { key: b64(key), range_end: prefixEnd(key) } : { key: b64(key) };
}

function rawOp(op: Op): Record<string, unknown> {
  if ("put" in op) return { requestPut: { key: b64(op.put.key), value: b64(op.put.value), ...(op.put.lease ? { lease: op.put.lease } : {}) } };
  if ("del" in op) return { requestDeleteRange: rangeRequest(op.del.key, op.del.prefix) };
  return { requestRange: rangeRequest(op.get.key, op.get.prefix) };
}

export interface EtcdOptions {
  /** per request (default 5000 ms) */
  timeoutMs?: number;
}

export class Etcd {
  private current = 0;
  private readonly timeoutMs: number;

  constructor(
    readonly endpoints: readonly string[],
    opts: EtcdOptions = {},
  ) {
    if (endpoints.length === 0) throw new RangeError("etcd needs at least one endpoint");
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  /** One JSON call, tried on each endpoint in turn until one answers. */
  async call<T>(path: string, body: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    let last: unknown = null;
    for (let i = 0; i < this.endpoints.length; i++) {
      const n = (this.current + i) % this.endpoints.length;
      const base = this.endpoints[n]!.replace(/\/+$/, "");
      let res: Response;
      try {
        res = await fetch(`${base}${path}`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(timeoutMs) });
      } catch (e) {
        last = e;
        continue; // unreachable: the next endpoint
      }
      const text = await res.text();
      let json: { error?: string; message?: string; code?: number } & Record<string, unknown>;
      try {
        json = JSON.parse(text) as typeof json;
      } catch {
        last = new Error(`etcd at ${base} answered ${res.status} with non-JSON`);
        continue;
      }
      if (json.error !== undefined) {
        // 14: unavailable (no leader): another endpoint may have one
        if (json.code === 14) {
          last = new Error(json.message ?? json.error);
          continue;
        }
        throw new EtcdError(`etcd: ${json.message ?? json.error}`, json.code ?? null);
      }
      this.current = n;
      return json as T;
    }
    throw new EtcdError(`no etcd endpoint answered (${this.endpoints.join(", ")}): ${last instanceof Error ? last.message : String(last)}`, null);
  }

  async get(key: string): Promise<KeyValue | null> {
    const r = await this.call<{ kvs?: RawKv[] }>("/v3/kv/range", rangeRequest(key, false));
    return r.kvs?.[0] ? kvOf(r.kvs[0]) : null;
  }

  /** Every key under `prefix`, and the store's revision the answer is of. */
  async range(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    const r = await this.call<{ kvs?: RawKv[]; header: { revision: string } }>("/v3/kv/range", rangeRequest(prefix, true));
    return { kvs: (r.kvs ?? []).map(kvOf), revision: Number(r.header.revision) };
  }

  async put(key: string, value: string, lease?: string): Promise<number> {
    const r = await this.call<{ header: { revision: string } }>("/v3/kv/put", { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) });
    return Number(r.header.revision);
  }

  async delete(key: string): Promise<number> {
    const r = await this.call<{ deleted?: string }>("/v3/kv/deleterange", rangeRequest(key, false));
    return Number(r.deleted ?? 0);
  }

  /** All of `success` if every compare holds, else all of `failure`, atomically. */
  async txn(compare: Compare[], success: Op[], failure: Op[] = []): Promise<TxnResult> {
    const body = {
      compare: compare.map((c) => {
        const field = { CREATE: "create_revision", MOD: "mod_revision", VERSION: "version", VALUE: "value" }[c.target];
        return { key: b64(c.key), target: c.target, result: c.result, [field]: c.target === "VALUE" ? b64(String(c.value)) : String(c.value) };
      }),
      success: success.map(rawOp),
      failure: failure.map(rawOp),
    };
    const r = await this.call<{ succeeded?: boolean; header: { revision: string }; responses?: Array<{ response_range?: { kvs?: RawKv[] } }> }>("/v3/kv/txn", body);
    return {
      succeeded: r.succeeded === true,
      revision: Number(r.header.revision),
      ranges: (r.responses ?? []).filter((x) => x.response_range !== undefined).map((x) => (x.response_range!.kvs ?? []).map(kvOf)),
    };
  }

  /** A lease of `ttlS` seconds; keys put with it go when it expires. */
  async grant(ttlS: number): Promise<{ id: string; ttlS: number }> {
    const r = await this.call<{ ID: string; TTL: string }>("/v3/lease/grant", { TTL: ttlS });
    return { id: r.ID, ttlS: Number(r.TTL) };
  }

  /** Renews a lease; its remaining TTL in seconds (0: it expired, its keys are gone). */
  async keepAlive(id: string): Promise<number> {
    const r = await this.call<{ result?: { TTL?: string } }>("/v3/lease/keepalive", { ID: id });
    return Number(r.result?.TTL ?? 0);
  }

  /** Ends a lease now (its keys are deleted); a lease that is gone already is no error. */
  async revoke(id: string): Promise<void> {
    try {
      await this.call("/v3/lease/revoke", { ID: id });
    } catch (e) {
      if (!(e instanceof EtcdError) || !/lease not found/.test(e.message)) throw e;
    }
  }

  /**
   * Watches every key under `prefix` from `fromRevision` on. Events arrive in
   * order, each batch with the revision it ends at; the watch ends (onEnd with
   * the reason) when the stream breaks or history before fromRevision was
   * compacted: the caller reads the range again and watches anew.
   */
  watch(prefix: string, fromRevision: number, onEvents: (events: WatchEvent[], revision: number) => void, onEnd: (reason: Error) => void): { close(): void } {
    const ctl = new AbortController();
    let ended = false;
    const end = (e: Error) => {
      if (ended) return;
      ended = true;
      ctl.abort();
      onEnd(e);
    };
    const base = this.endpoints[this.current]!.replace(/\/+$/, "");
    const body = { create_request: { ...rangeRequest(prefix, true), start_revision: String(fromRevision) } };
    void (async () => {
      const res = await fetch(`${base}/v3/watch`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" }, signal: ctl.signal });
      if (!res.body) throw new Error("etcd watch: no stream");
      const decoder = new TextDecoder();
      let buf = "";
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const msg = JSON.parse(line) as {
            result?: { header?: { revision?: string }; events?: Array<{ type?: string; kv: RawKv }>; compact_revision?: string; canceled?: boolean; cancel_reason?: string };
            error?: { message?: string };
          };
          if (msg.error) throw new Error(`etcd watch: ${msg.error.message ?? "error"}`);
          const r = msg.result;
          if (!r) continue;
          if (r.canceled || (r.compact_revision && r.compact_revision !== "0")) throw new Error(`etcd watch cancelled: ${r.cancel_reason ?? `compacted at ${r.compact_revision}`}`);
          if (r.events?.length)
            onEvents(
              r.events.map((e) => ({ type: e.type === "DELETE" ? "delete" : "put", kv: kvOf(e.kv) })),
              Number(r.header?.revision ?? 0),
            );
        }
      }
      throw new Error("etcd watch stream ended");
    })().catch((e: unknown) => end(e instanceof Error ? e : new Error(String(e))));
    return { close: () => end(new Error("closed")) };
  }
}

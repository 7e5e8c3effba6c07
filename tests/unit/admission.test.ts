import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Admission, hostMemTotalMiB } from "../../core/instances/admission.js";
import type { UmldError } from "../../core/errors.js";
import type { InstanceRow, InstancesRepo } from "../../core/store/instances-repo.js";

describe("host memory admission", () => {
  const running = new Map([["r1", 512]]);
  const repo = { committedMemory: () => new Map(running) } as unknown as InstancesRepo;
  const vm = (id: string, mib: number) => ({ id, name: id, max_memory_mib: mib }) as InstanceRow;

  it("reads the host's MemTotal", () => {
    assert.equal(hostMemTotalMiB("MemTotal:       24684032 kB\nMemFree: 1 kB\n"), 24105);
  });

  it("admits up to MemTotal × ratio, counting starts on their way, and refuses past it with the figures", () => {
    const a = new Admission(repo, 1000, 1.5); // 1500 MiB may be committed
    const release = a.reserve(vm("s1", 900)); // 512 + 900 = 1412
    assert.deepEqual(a.figures(), { committedMiB: 1412, limitMiB: 1500, hostMemTotalMiB: 1000, overcommit: 1.5 });
    let err: UmldError | undefined;
    try {
      a.reserve(vm("s2", 128));
    } catch (e) {
      err = e as UmldError;
    }
    assert.equal(err?.code, "host_memory_exhausted");
    assert.deepEqual(err?.details, { committedMiB: 1412, requestedMiB: 128, limitMiB: 1500, hostMemTotalMiB: 1000, overcommit: 1.5 });
    release();
    assert.equal(a.figures().committedMiB, 512, "a start that is over no longer counts (its guest does, once recorded)");
    a.reserve(vm("s2", 128))();
    running.set("s1", 900);
    const r = a.reserve(vm("s3", 88)); // 512 + 900 + 88 = 1500: exactly the limit
    assert.equal(a.figures().committedMiB, 1500);
    r();
  });
});

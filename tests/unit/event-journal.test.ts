import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { after, describe, it } from "node:test";
import type { EventDraft } from "../../protocol/events.js";
import { EventBus } from "../../core/events/bus.js";
import { EventJournal } from "../../core/events/journal.js";
import { UmldError } from "../../core/errors.js";
import { openDb } from "../../core/store/db.js";
import { EventsRepo } from "../../core/store/events-repo.js";

const created = (instance: string, at = new Date().toISOString()): EventDraft => ({ type: "instance.created", instance, timestamp: at });

describe("the event journal", () => {
  const dir = mkdtempSync("/tmp/umld-journal-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("gives each event a seq before it is seen, continues it after a restart and never reuses one that was pruned", () => {
    const path = `${dir}/a.db`;
    let db = openDb(path);
    let bus = new EventBus(new EventJournal(new EventsRepo(db)));
    const seen: number[] = [];
    bus.on("event", (e) => seen.push(e.seq));
    for (const n of ["a", "b", "c"]) bus.publish(created(n));
    assert.deepEqual(seen, [1, 2, 3]);
    new EventJournal(new EventsRepo(db)).prune(new Date(Date.now() + 1000).toISOString(), 0, 100); // everything is older than "before"
    db.close();
    db = openDb(path);
    const journal = new EventJournal(new EventsRepo(db));
    bus = new EventBus(journal);
    assert.equal(bus.publish(created("d")).seq, 4, "the seq goes on from the last one issued, even with every row pruned");
    assert.deepEqual(
      journal.page(0).map((e) => [e.seq, e.type === "instance.created" && e.instance]),
      [[4, "d"]],
    );
    db.close();
  });

  it("replays in pages from a seq, and refuses a since whose events are gone or that was never issued", () => {
    const db = openDb(`${dir}/b.db`);
    const journal = new EventJournal(new EventsRepo(db));
    const bus = new EventBus(journal);
    const old = new Date(Date.now() - 86_400_000).toISOString();
    for (let i = 0; i < 10; i++) bus.publish(created(`vm-${i}`, i < 4 ? old : undefined));
    assert.deepEqual(
      journal.page(7).map((e) => e.seq),
      [8, 9, 10],
    );
    assert.deepEqual(
      journal.page(2, {}, 3).map((e) => e.seq),
      [3, 4, 5],
    );
    journal.checkSince(0); // all kept: nothing missed
    assert.equal(journal.prune(new Date(Date.now() - 3600_000).toISOString(), 100, 1000), 4, "by age");
    journal.checkSince(4);
    journal.checkSince(10);
    const refused = (since: number) => {
      try {
        journal.checkSince(since);
      } catch (e) {
        assert.ok(e instanceof UmldError);
        assert.equal(e.code, "events_expired");
        return e.details;
      }
      return assert.fail(`since=${since} was accepted`);
    };
    assert.deepEqual(refused(3), { since: 3, oldest: 5, latest: 10 }, "event 4 is gone: the client cannot be brought up to date");
    assert.deepEqual(refused(11), { since: 11, oldest: 5, latest: 10 }, "a seq from another journal");
    assert.equal(journal.prune(new Date(0).toISOString(), 2, 1000), 4, "by rows: the newest 2 are kept");
    assert.deepEqual(
      journal.page(0).map((e) => e.seq),
      [9, 10],
    );
    db.close();
  });

  it("filters a page in SQL by a tenant's prefix and by type, and forgets a prefix's events only", () => {
    const db = openDb(`${dir}/c.db`);
    const repo = new EventsRepo(db);
    const journal = new EventJournal(repo);
    const bus = new EventBus(journal);
    for (const n of ["acme.web", "acme-2.web", "acmf.x", "acme.db", "other"]) bus.publish(created(n));
    bus.publish({ type: "instance.deleted", instance: "acme.web", timestamp: new Date().toISOString() } as EventDraft);
    const names = (f: Parameters<EventJournal["page"]>[1]) => journal.page(0, f).map((e) => `${e.type}:${"instance" in e ? e.instance : ""}`);
    assert.deepEqual(names({ subjectPrefix: "acme." }), ["instance.created:acme.web", "instance.created:acme.db", "instance.deleted:acme.web"]);
    assert.deepEqual(names({ subjectPrefix: "acme.", types: ["instance.deleted"] }), ["instance.deleted:acme.web"]);
    assert.deepEqual(names({ types: ["instance.created"] }).length, 5);
    assert.equal(repo.forget("acme."), 3);
    assert.deepEqual(names({}), ["instance.created:acme-2.web", "instance.created:acmf.x", "instance.created:other"]);
    assert.throws(() => repo.forget(""), /empty subject prefix/);
    db.close();
  });
});

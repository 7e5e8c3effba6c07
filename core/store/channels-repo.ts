import type { Db } from "./db.js";

/** Extra consoles and serial lines configured per instance. */
export class ChannelsRepo {
  private readonly q;
  constructor(db: Db) {
    this.q = {
      of: db.prepare("SELECT channel FROM console_channels WHERE instance_id = ? ORDER BY channel"),
      add: db.prepare("INSERT INTO console_channels (instance_id, channel, created_at) VALUES (?, ?, ?)"),
      remove: db.prepare("DELETE FROM console_channels WHERE instance_id = ? AND channel = ?"),
    };
  }
  of(instanceId: string): string[] {
    return (this.q.of.all(instanceId) as Array<{ channel: string }>).map((r) => r.channel);
  }
  add(instanceId: string, channel: string, at: string): void {
    this.q.add.run(instanceId, channel, at);
  }
  remove(instanceId: string, channel: string): void {
    this.q.remove.run(instanceId, channel);
  }
}

/** An undo stack for multi-step setup: register an undo per step, run them in reverse on failure. */
export class Revert {
  private undos: Array<() => void | Promise<void>> = [];

  add(undo: () => void | Promise<void>): void {
    this.undos.push(undo);
  }

  /** Setup succeeded: forget the undos. */
  success(): void {
    this.undos = [];
  }

  /** Setup failed: undo every step, newest first, never throwing. */
  async fail(): Promise<void> {
    for (const undo of this.undos.reverse()) {
      try {
        await undo();
      } catch {
        // best effort: the remaining undos still run
      }
    }
    this.undos = [];
  }
}

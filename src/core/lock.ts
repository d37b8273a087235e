/**
 * Per-key mutual exclusion for async operations: calls for the same key run one after another,
 * in arrival order; different keys run concurrently. The core takes locks in one order only
 * (network name → network → endpoint → sandbox) so it cannot deadlock.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Keys with a call running or waiting (for tests and diagnostics). */
  busy(): string[] {
    return [...this.tails.keys()];
  }
}

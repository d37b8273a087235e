/**
 * Undo stacks for the core's multi-step operations (STYLE.md: setup as a list of `{ do, undo }`
 * steps, undone in reverse on failure).
 *
 * Two kinds of undo step:
 * - `undoKernel`: takes back work on the kernel or in a driver (a link, a route, a firewall
 *   element, a namespace). Always attempted, even after an earlier undo failed.
 * - `undoRecord`: forgets what owns that work (a store record, an IPAM allocation). Skipped once
 *   any undo step has failed: whatever may still exist in the kernel then keeps its record (the
 *   next start rolls it back) and its address (never handed out while a dying interface holds it).
 */
import { TeardownError } from '../errors/lifecycle.ts';

type Step = () => unknown;

export class Rollback {
  private readonly steps: { fn: Step; record: boolean }[] = [];

  undoKernel(fn: Step): void {
    this.steps.push({ fn, record: false });
  }

  undoRecord(fn: Step): void {
    this.steps.push({ fn, record: true });
  }

  /**
   * Undoes every step, newest first, then throws `cause`. Failures of the undo steps never hide
   * `cause`: they are attached to it as `rollbackErrors`.
   */
  async fail(cause: unknown): Promise<never> {
    const failures: unknown[] = [];
    for (const { fn, record } of this.steps.splice(0).reverse()) {
      if (record && failures.length > 0) continue;
      try {
        await fn();
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length > 0 && cause instanceof Error) {
      (cause as Error & { rollbackErrors?: unknown[] }).rollbackErrors = failures;
    }
    throw cause;
  }
}

/**
 * Runs each step of a teardown whatever the others did, and reports every failure together
 * (TeardownError, an aggregate), never only the first.
 */
export class Teardown {
  readonly errors: unknown[] = [];

  constructor(private readonly what: string) {}

  get failed(): boolean {
    return this.errors.length > 0;
  }

  async attempt(fn: Step): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (err) {
      this.errors.push(err);
      return false;
    }
  }

  /**
   * Throws if a step failed: a single failure as it is (its class and code say what to do), several
   * as one TeardownError listing every one.
   */
  check(): void {
    if (this.errors.length === 1) throw this.errors[0];
    if (this.errors.length > 1) throw new TeardownError(this.what, this.errors);
  }
}

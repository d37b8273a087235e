import { DnetError } from '../errors/base.ts';

/**
 * The key-value store's errors (src/store/types.ts). Each has a stable `code` and a `kind` (the
 * HTTP status the daemon answers, src/errors/base.ts); the message says what was wrong and what to
 * do about it.
 *
 * - A bad key, value, version or transaction is the caller's input: `invalid` (400).
 * - A key that exists, a version that moved on, a data directory held by another dnet: the state
 *   refuses it now: `conflict` (409). Optimistic writers re-read and retry on these two.
 * - A store that does not answer (etcd down, unreachable) or is closed: `unavailable` (503).
 * - Stored data dnet cannot read: `internal` (500).
 */

function q(s: string): string {
  return JSON.stringify(s);
}

function versionText(v: number | undefined): string {
  return v === undefined ? 'it does not exist' : `it is at version ${v}`;
}

/** A key (or a prefix) that breaks the key rule (src/store/keys.ts). */
export class InvalidKeyError extends DnetError {
  readonly code = 'ERR_STORE_INVALID_KEY';
  readonly kind = 'invalid';
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(
      `invalid store key ${q(key)}: ${reason} (keys are "/"-separated paths of non-empty parts, ` +
        `without control characters, at most 1024 bytes)`,
    );
  }
}

/** A value that cannot be stored: not representable as JSON, or too large. */
export class InvalidValueError extends DnetError {
  readonly code = 'ERR_STORE_INVALID_VALUE';
  readonly kind = 'invalid';
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`cannot store the value of ${q(key)}: ${reason}`);
  }
}

/** An expected version that no entry can have (not a positive safe integer). */
export class InvalidVersionError extends DnetError {
  readonly code = 'ERR_STORE_INVALID_VERSION';
  readonly kind = 'invalid';
  constructor(
    readonly key: string,
    readonly version: unknown,
  ) {
    super(
      `invalid expected version ${String(version)} for ${q(key)}: versions are positive integers; ` +
        `pass the version of an entry read from the store`,
    );
  }
}

/** A transaction that is malformed (too many operations, a key twice, an unknown operation). */
export class InvalidTransactionError extends DnetError {
  readonly code = 'ERR_STORE_INVALID_TRANSACTION';
  readonly kind = 'invalid';
  constructor(readonly reason: string) {
    super(`invalid store transaction: ${reason}`);
  }
}

/** `create` (or a transaction's create) of a key that exists. */
export class KeyExistsError extends DnetError {
  readonly code = 'ERR_STORE_KEY_EXISTS';
  readonly kind = 'conflict';
  constructor(
    readonly key: string,
    /** The existing entry's version. */
    readonly actual: number,
  ) {
    super(
      `store key ${q(key)} exists already (at version ${actual}): read it and update it with ` +
        `compareAndSwap, or delete it first`,
    );
  }
}

/**
 * A conditional write found the key at another version than expected (or missing): someone else
 * changed it since it was read. Re-read, re-apply the change, retry.
 */
export class VersionMismatchError extends DnetError {
  readonly code = 'ERR_STORE_VERSION_MISMATCH';
  readonly kind = 'conflict';
  constructor(
    readonly key: string,
    /** The version the caller expected; null: the key was expected to be absent. */
    readonly expected: number | null,
    /** The version the key is at; undefined: the key does not exist. */
    readonly actual: number | undefined,
  ) {
    const wanted = expected === null ? 'expected it to be absent' : `expected version ${expected}`;
    super(
      `store key ${q(key)} changed concurrently: ${wanted}, but ${versionText(actual)}; ` +
        `re-read it and retry`,
    );
  }
}

/** Another dnet (another process) has the data directory open. */
export class StoreLockedError extends DnetError {
  readonly code = 'ERR_STORE_LOCKED';
  readonly kind = 'conflict';
  constructor(
    readonly dir: string,
    readonly lockFile: string,
    readonly holderPid: number,
  ) {
    super(
      `the data directory ${dir} is in use by another dnet (pid ${holderPid}, lock file ${lockFile}): ` +
        `stop that daemon first, or give this one another data directory`,
    );
  }
}

/** An operation on a store that was closed. */
export class StoreClosedError extends DnetError {
  readonly code = 'ERR_STORE_CLOSED';
  readonly kind = 'unavailable';
  constructor(readonly store: string) {
    super(`the ${store} store is closed (dnet is shutting down): retry once the daemon is back`);
  }
}

/** The store did not answer: etcd is down, unreachable, timed out, or refused the client. */
export class StoreUnavailableError extends DnetError {
  readonly code = 'ERR_STORE_UNAVAILABLE';
  readonly kind = 'unavailable';
  constructor(
    readonly store: string,
    readonly operation: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `the ${store} store is unavailable (${operation}: ${detail}): check that it is running and ` +
        `reachable from this host, then retry (a write that timed out may have been applied: re-read first)`,
      options,
    );
  }
}

/** Stored data dnet cannot read: a value that is not JSON, a missing version, an unknown format. */
export class StoreCorruptError extends DnetError {
  readonly code = 'ERR_STORE_CORRUPT';
  readonly kind = 'internal';
  constructor(
    readonly location: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `stored data at ${location} cannot be read: ${reason}; it was written by another program or ` +
        `another dnet version, or the store is damaged: inspect it, or remove it and let dnet reconcile`,
      options,
    );
  }
}

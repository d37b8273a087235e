/**
 * What both stores check before touching anything: keys, prefixes, values (JSON), versions and
 * transactions. Pure functions; the limits are etcd's defaults where etcd has one, so the two
 * stores accept exactly the same requests.
 */
import {
  InvalidKeyError,
  InvalidTransactionError,
  InvalidValueError,
  InvalidVersionError,
  StoreCorruptError,
} from './errors.ts';
import type { KvOp } from './types.ts';

/** Longest key, in bytes of UTF-8 (LMDB's limit is 1978; etcd's is larger). */
export const MAX_KEY_BYTES = 1024;
/** Largest value once serialised, in bytes (etcd refuses requests over 1.5 MiB by default). */
export const MAX_VALUE_BYTES = 1024 * 1024;
/** Most operations in one transaction (etcd's --max-txn-ops default). */
export const MAX_TXN_OPS = 128;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f]/;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function describeChar(c: string): string {
  return `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Why `s` cannot be (part of) a key, or undefined. Shared by keys and prefixes. */
function textRuleViolation(s: string): string | undefined {
  const ctl = CONTROL.exec(s);
  if (ctl !== null)
    return `it contains a control character (${describeChar(ctl[0])}) at character ${ctl.index + 1}`;
  // A lone surrogate has no UTF-8 form: it would be stored as U+FFFD and read back as another key.
  if (LONE_SURROGATE.test(s)) return 'it contains a lone UTF-16 surrogate (not valid Unicode)';
  const bytes = Buffer.byteLength(s, 'utf8');
  if (bytes > MAX_KEY_BYTES) return `it is ${bytes} bytes long; the limit is ${MAX_KEY_BYTES}`;
  if (s.startsWith('/')) return 'it starts with "/" (keys are relative: "network/<id>")';
  return undefined;
}

/** Throws InvalidKeyError unless `key` is a non-empty "/"-separated path of non-empty parts. */
export function validateKey(key: unknown): asserts key is string {
  if (typeof key !== 'string')
    throw new InvalidKeyError(String(key), `it is not a string (got ${typeof key})`);
  if (key === '') throw new InvalidKeyError(key, 'it is empty');
  const broken = textRuleViolation(key);
  if (broken !== undefined) throw new InvalidKeyError(key, broken);
  if (key.endsWith('/'))
    throw new InvalidKeyError(key, 'it ends with "/" (that names a directory, not a key)');
  if (key.includes('//')) throw new InvalidKeyError(key, 'it has an empty part ("//")');
}

/**
 * Throws InvalidKeyError unless `prefix` is "" or the start of a valid key (it may end with "/",
 * and must not contain "//").
 */
export function validatePrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string') {
    throw new InvalidKeyError(String(prefix), `the prefix is not a string (got ${typeof prefix})`);
  }
  if (prefix === '') return;
  const broken = textRuleViolation(prefix);
  if (broken !== undefined) throw new InvalidKeyError(prefix, broken);
  if (prefix.includes('//')) throw new InvalidKeyError(prefix, 'it has an empty part ("//")');
}

/** Throws InvalidVersionError unless `version` is a positive safe integer. */
export function validateVersion(key: string, version: unknown): asserts version is number {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new InvalidVersionError(key, version);
  }
}

/** A value serialised for storage: the JSON text, its UTF-8 bytes, and what readers will get back. */
export interface EncodedValue {
  readonly bytes: Buffer;
  /** JSON.parse of the text: the value as every later read returns it. */
  readonly value: unknown;
}

/** Serialises `value` as JSON (InvalidValueError if JSON cannot carry it or it is too large). */
export function encodeValue(key: string, value: unknown): EncodedValue {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    // A cycle, a bigint, a throwing toJSON.
    throw new InvalidValueError(key, `JSON cannot represent it (${(err as Error).message})`);
  }
  if (text === undefined) {
    throw new InvalidValueError(
      key,
      `JSON cannot represent a top-level ${typeof value}; store null or an object`,
    );
  }
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > MAX_VALUE_BYTES) {
    throw new InvalidValueError(
      key,
      `it is ${bytes.length} bytes as JSON; the limit is ${MAX_VALUE_BYTES} (store large data elsewhere)`,
    );
  }
  return { bytes, value: JSON.parse(text) as unknown };
}

/** Parses stored bytes (StoreCorruptError if they are not JSON). */
export function decodeValue(location: string, bytes: Uint8Array): unknown {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new StoreCorruptError(location, `the value is not JSON (${(err as Error).message})`, {
      cause: err,
    });
  }
}

/** A transaction's operation, validated, with its value already encoded. */
export type CheckedOp =
  | {
      readonly type: 'put';
      readonly key: string;
      readonly encoded: EncodedValue;
      readonly ifVersion?: number;
    }
  | { readonly type: 'create'; readonly key: string; readonly encoded: EncodedValue }
  | { readonly type: 'delete'; readonly key: string; readonly ifVersion?: number }
  | { readonly type: 'check'; readonly key: string; readonly ifVersion: number | null };

/** The condition an operation puts on its key: a version, absent (null), or none (undefined). */
export function conditionOf(op: CheckedOp): number | null | undefined {
  return op.type === 'create' ? null : op.ifVersion;
}

/** Validates a transaction (InvalidTransactionError, InvalidKeyError, ...) and encodes its values. */
export function checkOps(ops: readonly KvOp[]): CheckedOp[] {
  if (!Array.isArray(ops)) throw new InvalidTransactionError('the operations are not an array');
  if (ops.length > MAX_TXN_OPS) {
    throw new InvalidTransactionError(
      `${ops.length} operations; the limit is ${MAX_TXN_OPS} (split it, or group the data in fewer keys)`,
    );
  }
  const seen = new Set<string>();
  return ops.map((op, i): CheckedOp => {
    const at = `operation ${i + 1}`;
    if (typeof op !== 'object' || op === null) throw new InvalidTransactionError(`${at} is not an object`);
    validateKey(op.key);
    if (seen.has(op.key)) {
      throw new InvalidTransactionError(
        `${at} names ${JSON.stringify(op.key)} again (one operation per key)`,
      );
    }
    seen.add(op.key);
    switch (op.type) {
      case 'put':
        if (op.ifVersion !== undefined) validateVersion(op.key, op.ifVersion);
        return op.ifVersion === undefined
          ? { type: 'put', key: op.key, encoded: encodeValue(op.key, op.value) }
          : { type: 'put', key: op.key, encoded: encodeValue(op.key, op.value), ifVersion: op.ifVersion };
      case 'create':
        return { type: 'create', key: op.key, encoded: encodeValue(op.key, op.value) };
      case 'delete':
        if (op.ifVersion !== undefined) validateVersion(op.key, op.ifVersion);
        return op.ifVersion === undefined
          ? { type: 'delete', key: op.key }
          : { type: 'delete', key: op.key, ifVersion: op.ifVersion };
      case 'check':
        if (op.ifVersion !== null) validateVersion(op.key, op.ifVersion);
        return { type: 'check', key: op.key, ifVersion: op.ifVersion };
      default:
        throw new InvalidTransactionError(
          `${at} has type ${JSON.stringify((op as { type: unknown }).type)}; ` +
            `use put, create, delete or check`,
        );
    }
  });
}

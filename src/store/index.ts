/**
 * The key-value store: one contract (types.ts), two implementations: LmdbStore for local state in
 * the data directory, EtcdStore for global-scope state shared by hosts.
 */

export {
  InvalidKeyError,
  InvalidTransactionError,
  InvalidValueError,
  InvalidVersionError,
  KeyExistsError,
  StoreClosedError,
  StoreCorruptError,
  StoreLockedError,
  StoreUnavailableError,
  VersionMismatchError,
} from './errors.ts';
export { DEFAULT_ETCD_PREFIX, EtcdStore, type EtcdStoreOptions } from './etcd.ts';
export { MAX_KEY_BYTES, MAX_TXN_OPS, MAX_VALUE_BYTES, validateKey, validatePrefix } from './keys.ts';
export { DEFAULT_DATA_DIR, LmdbStore, type LmdbStoreOptions, STORE_FILE } from './lmdb.ts';
export { LOCK_FILE } from './lock.ts';
export type { KvEntry, KvEvent, KvOp, KvStore, KvTxnResult, KvWatch, KvWatchOptions } from './types.ts';

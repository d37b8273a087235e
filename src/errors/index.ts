export { DnetError, type ErrorKind } from './base.ts';
export { errnoName, errnoValue } from './errno.ts';
export { LibraryLoadError, NetlinkDecodeError, NetlinkError, NftablesError, SyscallError } from './os.ts';

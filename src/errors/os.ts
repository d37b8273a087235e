import { DnetError } from './base.ts';
import { errnoName } from './errno.ts';

/** A system call failed. Carries the operation, the errno and its name (`EEXIST`, `ENODEV`...). */
export class SyscallError extends DnetError {
  readonly code = 'ERR_SYSCALL';
  readonly kind = 'internal';
  readonly errnoName: string;
  constructor(
    readonly op: string,
    readonly errno: number,
    detail?: string,
  ) {
    const name = errnoName(errno);
    super(`${op}: ${name} (errno ${errno})${detail ? `: ${detail}` : ''}`);
    this.errnoName = name;
  }
}

/**
 * The kernel refused a netlink request. `errno` is the positive errno, `extack` the kernel's
 * extended-ack text when it gave one ("Invalid prefix for given prefix length" etc.).
 */
export class NetlinkError extends DnetError {
  readonly code = 'ERR_NETLINK';
  readonly kind = 'internal';
  readonly errnoName: string;
  constructor(
    readonly op: string,
    readonly errno: number,
    readonly extack?: string,
  ) {
    const name = errnoName(errno);
    super(`${op}: ${name} (errno ${errno})${extack ? `: ${extack}` : ''}`);
    this.errnoName = name;
  }
}

/** A netlink message could not be decoded (truncated, bad length, unknown framing). */
export class NetlinkDecodeError extends DnetError {
  readonly code = 'ERR_NETLINK_DECODE';
  readonly kind = 'internal';
}

/** libnftables rejected a transaction; nothing of it was applied. `detail` is nft's error text. */
export class NftablesError extends DnetError {
  readonly code = 'ERR_NFTABLES';
  readonly kind = 'internal';
  constructor(
    readonly op: string,
    readonly detail: string,
  ) {
    super(`${op}: ${detail.trim() || 'libnftables reported an error without text'}`);
  }
}

/**
 * The kernel worker thread (src/os/kernel-worker) stopped before it answered: it crashed or could
 * not start. The call's kernel state is unknown; the caller retries (a new worker starts) or
 * leaves the object to its owner's next pass.
 */
export class KernelWorkerError extends DnetError {
  readonly code = 'ERR_KERNEL_WORKER';
  readonly kind = 'internal';
  constructor(
    readonly op: string,
    detail: string,
  ) {
    super(`${op}: the kernel worker thread stopped before it answered (${detail}); try again`);
  }
}

/** A library the OS layer needs (libc, libnftables) could not be loaded. */
export class LibraryLoadError extends DnetError {
  readonly code = 'ERR_LIBRARY_LOAD';
  readonly kind = 'internal';
}

/**
 * The kernel cannot make links of a kind: its module is neither built in nor loaded, and was not
 * loaded on demand (rtnetlink answers EOPNOTSUPP, "Unknown device type"). Names the module.
 */
export class KernelModuleMissingError extends DnetError {
  readonly code = 'ERR_KERNEL_MODULE_MISSING';
  // 501: this host cannot do what was asked (not a fault of dnet's, nor of the request as such).
  readonly kind = 'not-implemented';
  constructor(
    readonly module: string,
    readonly linkKind: string,
    readonly purpose: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${purpose} needs ${/^[aeiou]/.test(linkKind) ? 'an' : 'a'} ${linkKind} link, which this kernel cannot make: the ${module} kernel module ` +
        `is not loaded and could not be loaded on demand; load it (modprobe ${module}) and try again`,
      options,
    );
  }
}

/**
 * Kernel parameters under /proc/sys, read and written in-process (no `sysctl` child process).
 * Files under /proc/sys/net belong to the network namespace of the thread that opens them, so
 * `netns` opens the file inside that namespace (synchronously, via runInNetns).
 */
import { closeSync, existsSync, openSync, readSync, writeSync } from 'node:fs';
import { DnetError } from '../errors/index.ts';
import { type NetnsRef, runInNetns } from './netns/index.ts';

export class InvalidSysctlError extends DnetError {
  readonly code = 'ERR_INVALID_SYSCTL';
  readonly kind = 'invalid';
  constructor(key: string) {
    super(
      `invalid sysctl key ${JSON.stringify(key)}: use dotted names such as net.ipv4.ip_forward ` +
        `(letters, digits, '_', '-', one dot between parts)`,
    );
  }
}

const DOTTED_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const SEGMENT_RE = /^[A-Za-z0-9_.:@-]+$/;

/**
 * "net.ipv4.ip_forward" → "/proc/sys/net/ipv4/ip_forward". Keys that name an interface whose
 * name may hold a dot use the slash form: "net/ipv6/conf/br.0/accept_dad" (as `sysctl` does).
 */
export function sysctlPath(key: string): string {
  if (key.length === 0 || key.length > 256) throw new InvalidSysctlError(key);
  if (key.includes('/')) {
    const parts = key.split('/');
    if (parts.some((p) => !SEGMENT_RE.test(p) || p === '.' || p === '..')) throw new InvalidSysctlError(key);
    return `/proc/sys/${key}`;
  }
  if (!DOTTED_RE.test(key)) throw new InvalidSysctlError(key);
  return `/proc/sys/${key.replaceAll('.', '/')}`;
}

function inNs<T>(netns: NetnsRef | undefined, fn: () => T): T {
  return netns ? runInNetns(netns, fn) : fn();
}

/** Reads a value, trailing newline removed. Equivalent to: `sysctl -n <key>`. */
export function sysctlGet(key: string, opts: { netns?: NetnsRef } = {}): string {
  const path = sysctlPath(key);
  const fd = inNs(opts.netns, () => openSync(path, 'r'));
  try {
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.toString('utf8', 0, n).replace(/\n$/, '');
  } finally {
    closeSync(fd);
  }
}

/** Writes a value. Equivalent to: `sysctl -w <key>=<value>`. */
export function sysctlSet(key: string, value: string | number, opts: { netns?: NetnsRef } = {}): void {
  const path = sysctlPath(key);
  const v = String(value);
  if (/[\n\0]/.test(v)) throw new InvalidSysctlError(`${key}=${v}`);
  const fd = inNs(opts.netns, () => openSync(path, 'w'));
  try {
    writeSync(fd, `${v}\n`);
  } finally {
    closeSync(fd);
  }
}

/** Sets a value only when it differs; returns the previous value. */
export function sysctlEnsure(key: string, value: string | number, opts: { netns?: NetnsRef } = {}): string {
  const prev = sysctlGet(key, opts);
  if (prev !== String(value)) sysctlSet(key, value, opts);
  return prev;
}

/** Whether the kernel has IPv6 (not booted with ipv6.disable=1): /proc/sys/net/ipv6 exists. */
export function ipv6Available(opts: { netns?: NetnsRef } = {}): boolean {
  return inNs(opts.netns, () => existsSync('/proc/sys/net/ipv6'));
}

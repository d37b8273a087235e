/**
 * The kernel worker's messages: the operations it runs (arguments and results are plain data,
 * copied by structured clone) and errors carried back as the same typed errors the main thread
 * would have thrown (NetlinkError and SyscallError with their op and errno, fs errors with their
 * code), so callers match on `code`/`errno` whichever thread ran the call.
 */
import { readlinkSync } from 'node:fs';
import { NetlinkError, NftablesError, SyscallError } from '../../errors/index.ts';
import type { NetlinkHandle } from '../netlink/index.ts';
import type { NetnsRef } from '../netns/index.ts';
import type { NftBatch } from '../nftables/types.ts';
import type { SandboxInterfaceSpec } from '../sandbox.ts';

/**
 * The NetlinkHandle methods the worker runs on request (each takes the rtnl lock in the kernel,
 * so each can wait behind the kernel's own slow work: a namespace being torn down, a delete).
 */
export const NETLINK_METHODS = [
  'linkAdd',
  'linkSet',
  'linkGet',
  'linkIndex',
  'linkList',
  'linkDelIfExists',
  'bridgePortSet',
  'addrAdd',
  'routeReplace',
  'routeDel',
] as const;
export type NetlinkMethod = (typeof NETLINK_METHODS)[number];
/** A NetlinkHandle method's arguments and result, by name. */
export type NetlinkArgs<M extends NetlinkMethod> = Parameters<NetlinkHandle[M]>;
export type NetlinkResult<M extends NetlinkMethod> = ReturnType<NetlinkHandle[M]>;

/** Operation name → its arguments and result. */
export interface KernelOps {
  /** Deletes a host-namespace link; with `ifExists`, false when there was none. */
  linkDel: { args: { ref: string | number; ifExists: boolean }; result: boolean };
  /** The names among `names` that are host-namespace links now. */
  linksPresent: { args: { names: string[] }; result: string[] };
  /** Unmounts and removes a namespace file (deleteNetns); false when it was not there. */
  netnsDelete: { args: { path: string }; result: boolean };
  /** A sandbox namespace made ready (OsSandbox.create: loopback up, DAD off); its path. */
  sandboxCreate: { args: { name: string; runDir: string }; result: string };
  /** OsSandbox.addInterface's requests inside `netns` (configureInterface); the link's index. */
  interfaceConfigure: { args: { netns: NetnsRef; spec: SandboxInterfaceSpec }; result: number };
  /**
   * One libnftables transaction (atomic), with the worker's host-namespace context or a context
   * made inside `netns` for the call; NftablesError when libnftables refuses it.
   */
  nftApply: { args: { batch: NftBatch; netns?: NetnsRef }; result: null };
  /** One NetlinkHandle method, in the host namespace or inside `netns` (an fd is the process's). */
  netlink: {
    args: { method: NetlinkMethod; args: unknown[]; netns?: NetnsRef };
    result: NetlinkResult<NetlinkMethod>;
  };
}

export type KernelOp = keyof KernelOps;

export interface KernelRequest {
  id: number;
  op: KernelOp;
  args: KernelOps[KernelOp]['args'];
}

/** An error as it crosses the thread boundary. */
export interface WireError {
  type: 'netlink' | 'nftables' | 'syscall' | 'fs' | 'range' | 'type' | 'other';
  message: string;
  name?: string;
  op?: string;
  errno?: number;
  extack?: string;
  detail?: string;
  code?: string;
  syscall?: string;
  path?: string;
}

export type KernelResponse =
  | { id: number; ok: true; value: KernelOps[KernelOp]['result'] }
  | { id: number; ok: false; error: WireError };

/**
 * The thread's first message: its kernel thread id, which the kernel reports as the `pid` of what
 * the thread does (nf_tables notifications: task_pid_nr of the committing thread).
 */
export interface KernelHello {
  hello: { tid: number };
}

/** The thread's own kernel thread id (from /proc/thread-self, a link to `<pid>/task/<tid>`). */
export function threadTid(): number {
  const link = readlinkSync('/proc/thread-self');
  const tid = Number.parseInt(link.slice(link.lastIndexOf('/') + 1), 10);
  if (!Number.isInteger(tid) || tid <= 0) throw new Error(`unexpected /proc/thread-self link ${link}`);
  return tid;
}

export function toWire(err: unknown): WireError {
  if (err instanceof NetlinkError) {
    return {
      type: 'netlink',
      message: err.message,
      op: err.op,
      errno: err.errno,
      ...(err.extack !== undefined ? { extack: err.extack } : {}),
    };
  }
  if (err instanceof NftablesError)
    return { type: 'nftables', message: err.message, op: err.op, detail: err.detail };
  if (err instanceof SyscallError)
    return { type: 'syscall', message: err.message, op: err.op, errno: err.errno };
  if (err instanceof Error) {
    const e = err as NodeJS.ErrnoException;
    if (typeof e.code === 'string' && typeof e.syscall === 'string') {
      return {
        type: 'fs',
        message: e.message,
        code: e.code,
        ...(e.errno !== undefined ? { errno: e.errno } : {}),
        ...(e.syscall !== undefined ? { syscall: e.syscall } : {}),
        ...(e.path !== undefined ? { path: e.path } : {}),
      };
    }
    if (e instanceof RangeError || e instanceof TypeError) {
      return { type: e instanceof RangeError ? 'range' : 'type', message: e.message };
    }
    const code = (e as { code?: unknown }).code;
    return { type: 'other', message: e.message, name: e.name, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { type: 'other', message: String(err) };
}

/** The error the worker threw, rebuilt on this thread with the same class, op and errno. */
export function fromWire(w: WireError): Error {
  switch (w.type) {
    case 'netlink':
      return new NetlinkError(w.op ?? '', w.errno ?? 0, w.extack);
    case 'nftables':
      return new NftablesError(w.op ?? '', w.detail ?? '');
    case 'syscall': {
      const e = new SyscallError(w.op ?? '', w.errno ?? 0);
      e.message = w.message;
      return e;
    }
    case 'fs':
      return Object.assign(new Error(w.message), {
        code: w.code,
        errno: w.errno,
        syscall: w.syscall,
        path: w.path,
      });
    case 'range':
      return new RangeError(w.message);
    case 'type':
      return new TypeError(w.message);
    default:
      return Object.assign(new Error(w.message), {
        ...(w.name !== undefined ? { name: w.name } : {}),
        ...(w.code !== undefined ? { code: w.code } : {}),
      });
  }
}

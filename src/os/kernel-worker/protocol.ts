/**
 * The kernel worker's messages: the operations it runs (arguments and results are plain data,
 * copied by structured clone) and errors carried back as the same typed errors the main thread
 * would have thrown (NetlinkError and SyscallError with their op and errno, fs errors with their
 * code), so callers match on `code`/`errno` whichever thread ran the call.
 */
import { NetlinkError, SyscallError } from '../../errors/index.ts';

/** Operation name → its arguments and result. */
export interface KernelOps {
  /** Deletes a host-namespace link; with `ifExists`, false when there was none. */
  linkDel: { args: { ref: string | number; ifExists: boolean }; result: boolean };
  /** The names among `names` that are host-namespace links now. */
  linksPresent: { args: { names: string[] }; result: string[] };
  /** Unmounts and removes a namespace file (deleteNetns); false when it was not there. */
  netnsDelete: { args: { path: string }; result: boolean };
}

export type KernelOp = keyof KernelOps;

export interface KernelRequest {
  id: number;
  op: KernelOp;
  args: KernelOps[KernelOp]['args'];
}

/** An error as it crosses the thread boundary. */
export interface WireError {
  type: 'netlink' | 'syscall' | 'fs' | 'range' | 'type' | 'other';
  message: string;
  name?: string;
  op?: string;
  errno?: number;
  extack?: string;
  code?: string;
  syscall?: string;
  path?: string;
}

export type KernelResponse =
  | { id: number; ok: true; value: KernelOps[KernelOp]['result'] }
  | { id: number; ok: false; error: WireError };

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

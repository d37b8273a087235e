/**
 * The kernel worker thread's body: one host-namespace netlink socket of its own, requests run one
 * at a time in arrival order, each synchronously (a namespace switch, if an operation needs one,
 * stays inside its one call as on the main thread), each answered with its result or its error.
 */
import { parentPort } from 'node:worker_threads';
import { NetlinkHandle } from '../netlink/index.ts';
import { deleteNetns, type NetnsRef } from '../netns/index.ts';
import { applyNft } from '../nftables/apply.ts';
import { configureInterface, OsSandbox } from '../sandbox.ts';
import {
  type KernelHello,
  type KernelOp,
  type KernelOps,
  type KernelRequest,
  type KernelResponse,
  NETLINK_METHODS,
  type NetlinkMethod,
  threadTid,
  toWire,
} from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('src/os/kernel-worker/thread runs as a worker thread only');

let nl: NetlinkHandle | undefined;
/** The worker's own socket, in the namespace the thread started in (the host's). */
const host = (): NetlinkHandle => {
  nl ??= NetlinkHandle.open();
  return nl;
};

/** Runs one NetlinkHandle method, on the host socket or on a socket opened inside `netns`. */
function netlink(method: NetlinkMethod, args: unknown[], netns?: NetnsRef): unknown {
  if (!NETLINK_METHODS.includes(method))
    throw new TypeError(`the kernel worker does not run ${String(method)}`);
  const call = (h: NetlinkHandle) => (h[method] as (...a: unknown[]) => unknown).apply(h, args);
  if (netns === undefined) return call(host());
  const h = NetlinkHandle.open({ netns });
  try {
    return call(h);
  } finally {
    h.close();
  }
}

const handlers: { [K in KernelOp]: (args: KernelOps[K]['args']) => KernelOps[K]['result'] } = {
  linkDel: ({ ref, ifExists }) => {
    if (ifExists) return host().linkDelIfExists(ref);
    host().linkDel(ref);
    return true;
  },
  linksPresent: ({ names }) => names.filter((n) => host().linkGet(n) !== undefined),
  netnsDelete: ({ path }) => deleteNetns(path),
  sandboxCreate: ({ name, runDir }) => {
    const sb = OsSandbox.create(name, runDir);
    sb.release(); // the namespace stays; the caller opens it
    return sb.path;
  },
  interfaceConfigure: ({ netns, spec }) => {
    const h = NetlinkHandle.open({ netns });
    try {
      return configureInterface(h, spec);
    } finally {
      h.close();
    }
  },
  nftApply: ({ batch, netns }) => {
    applyNft(batch, netns !== undefined ? { netns } : {});
    return null;
  },
  netlink: ({ method, args, netns }) => netlink(method, args, netns) as KernelOps['netlink']['result'],
};

const hello: KernelHello = { hello: { tid: threadTid() } };
port.postMessage(hello);

port.on('message', (req: KernelRequest) => {
  let res: KernelResponse;
  try {
    const run = handlers[req.op] as (args: KernelRequest['args']) => KernelOps[KernelOp]['result'];
    if (typeof run !== 'function') throw new TypeError(`unknown kernel worker operation ${String(req.op)}`);
    res = { id: req.id, ok: true, value: run(req.args) };
  } catch (err) {
    res = { id: req.id, ok: false, error: toWire(err) };
  }
  port.postMessage(res);
});

/**
 * The CNI plugin's brain, in the daemon: one request per plugin invocation, for the C launcher
 * (src/cni/launcher/dnet-cni.c), which only forwards the runtime's environment and stdin.
 *
 *   POST /cni   {"Env": {"CNI_COMMAND": "ADD", ...}, "Config": "<the network config, as given>"}
 *            → 200, header Dnet-Cni-Exit: <the plugin's exit code>, body: what it prints on stdout
 *
 * The verbs are src/cni-spec/verbs.ts (the Node plugin's too), run here against the attachment
 * functions directly: no HTTP round trip per step, no Node start-up per invocation. Every CNI
 * answer, error results included, is a 200; a non-200 is a refusal of the request itself (400).
 */

import type { AttachBody, Backend } from '../../../cni-spec/verbs.ts';
import { BackendError, runCni } from '../../../cni-spec/verbs.ts';
import { errorBody, httpStatus } from '../../../errors/http.ts';
import { attach, detach, gcAttachments } from '../attachments/attach.ts';
import { check, status } from '../attachments/inspect.ts';
import { type AttachRequest, findAttachment, info, UnknownAttachmentError } from '../attachments/model.ts';
import type { ApiContext } from '../context.ts';
import { BadRequestError } from '../errors.ts';
import type { Router } from '../router.ts';
import { findNetwork } from './networks.ts';

/** The header carrying the plugin's exit code. */
export const CNI_EXIT_HEADER = 'Dnet-Cni-Exit';

/** The environment variables of the CNI protocol (SPEC.md section 2); others are not passed on. */
const CNI_VARS = ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH'];

export interface CniCall {
  env: Record<string, string>;
  config: string;
}

/** The request body: Env (an object of strings; only the CNI_* variables are kept) and Config. */
export function parseCniCall(body: unknown): CniCall {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('invalid request: expected {"Env": {...}, "Config": "..."}');
  }
  const b = body as Record<string, unknown>;
  const rawEnv = b.Env ?? {};
  if (typeof rawEnv !== 'object' || rawEnv === null || Array.isArray(rawEnv)) {
    throw new BadRequestError('invalid request: Env must be an object of strings');
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(rawEnv)) {
    if (typeof v !== 'string') throw new BadRequestError(`invalid request: Env.${k} must be a string`);
    if (CNI_VARS.includes(k)) env[k] = v;
  }
  const config = b.Config ?? '';
  if (typeof config !== 'string') {
    throw new BadRequestError('invalid request: Config must be a string (the network config as given)');
  }
  return { env, config };
}

function requestOf(b: AttachBody): AttachRequest {
  return {
    network: b.Network,
    containerId: b.ContainerID,
    netns: b.Netns,
    ifName: b.IfName,
    ips: b.IPs,
    ...(b.MAC ? { mac: b.MAC } : {}),
    portMappings: b.PortMappings.map((p) => ({
      hostPort: p.HostPort,
      containerPort: p.ContainerPort,
      protocol: p.Protocol,
      ...(p.HostIP ? { hostIP: p.HostIP } : {}),
    })),
    ...(b.Name ? { name: b.Name } : {}),
  };
}

/** The daemon's attachments as the brain's backend: each failure as the status the API would give it. */
export function daemonBackend(ctx: ApiContext): Backend {
  const guard = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      const s = httpStatus(err);
      if (s >= 500) ctx.warn(`CNI ${what} failed`, err);
      throw new BackendError(s, errorBody(err).message);
    }
  };
  const found = (cid: string, ifName: string) => {
    const ep = findAttachment(ctx, cid, ifName);
    if (!ep) throw new UnknownAttachmentError(cid, ifName);
    return ep;
  };
  return {
    attach: (body) => guard('ADD', async () => info(await attach(ctx, requestOf(body)))),
    detach: (cid, ifName) => guard('DEL', () => detach(ctx, cid, ifName)),
    check: (cid, ifName) =>
      guard('CHECK', async () => {
        const ep = found(cid, ifName);
        return { Problems: await check(ep), Attachment: await info(ep) };
      }),
    gc: (network, valid) =>
      guard('GC', async () => {
        const r = await gcAttachments(ctx, findNetwork(ctx, network), valid);
        return { Removed: r.removed, Errors: r.errors };
      }),
    status: (network) =>
      guard('STATUS', async () => {
        const s = status(findNetwork(ctx, network));
        return { Ready: s.ready, Message: s.message };
      }),
  };
}

export function cniRoutes(router: Router, ctx: ApiContext): void {
  const backend = daemonBackend(ctx);
  router.add('POST', '/cni', async (req) => {
    const call = parseCniCall(await req.json());
    // The config's `host` named this daemon (the launcher connected to it): it is not asked again.
    const out = await runCni(call.env, call.config, () => backend);
    return { status: 200, text: out.stdout, headers: { [CNI_EXIT_HEADER]: String(out.exitCode) } };
  });
}

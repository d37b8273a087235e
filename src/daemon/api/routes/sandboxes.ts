/**
 * dnet's native sandbox routes: a container's network stack created before (or without) any
 * network, listed, inspected and removed. A sandbox is named by its container's ID or name.
 */

import { isFullId, newId } from '../../../errors/validate.ts';
import {
  type ExtraHost,
  InvalidOptionError,
  SandboxExistsError,
  UnknownSandboxError,
} from '../../../index.ts';
import { plain } from '../../../ip/index.ts';
import { nowRfc3339Nano } from '../../../timestamp.ts';
import { type ContainerRecord, checkContainerName, containerOf } from '../../registry.ts';
import type { ApiContext } from '../context.ts';
import { dockerSandbox } from '../convert.ts';
import { BadRequestError, UnknownContainerError } from '../errors.ts';
import type { Router } from '../router.ts';
import { parseSandboxCreate } from '../schemas.ts';

/** `name:ip` or `name=ip` (Docker's --add-host); `host-gateway` is the default bridge's gateway. */
function parseExtraHosts(ctx: ApiContext, list: string[]): ExtraHost[] {
  return list.map((h) => {
    const eq = h.indexOf('=');
    const sep = eq >= 0 ? eq : h.indexOf(':');
    if (sep <= 0 || sep === h.length - 1) {
      throw new InvalidOptionError('ExtraHosts', h, 'expected "name:ip" or "name=ip"');
    }
    const name = h.slice(0, sep);
    let ip = h.slice(sep + 1).replace(/^\[(.*)\]$/, '$1');
    if (ip === 'host-gateway') {
      const gw = ctx.controller.networkByName('bridge')?.pools.find((p) => !p.v6)?.gateway;
      if (!gw) throw new InvalidOptionError('ExtraHosts', h, 'host-gateway needs the default bridge network');
      ip = plain(gw);
    }
    return { name, ip };
  });
}

function lookup(ctx: ApiContext, ref: string): ContainerRecord {
  const rec = ctx.registry.resolve(ref);
  if (!rec) throw new UnknownContainerError(ref);
  return rec;
}

export function sandboxRoutes(router: Router, ctx: ApiContext): void {
  router.add('POST', '/sandboxes', async (req) => {
    const r = parseSandboxCreate(await req.json());
    if (r.containerId !== undefined && !isFullId(r.containerId)) {
      throw new BadRequestError(
        `invalid ContainerID ${JSON.stringify(r.containerId)}: expected 64 lowercase hex characters (or omit it)`,
      );
    }
    const id = r.containerId ?? newId();
    const name = r.name !== undefined ? checkContainerName(r.name) : id.slice(0, 12);
    const extraHosts = parseExtraHosts(ctx, r.extraHosts);
    // A known container has a sandbox already (made by its first connect, or created here).
    if (ctx.registry.container(id)) throw new SandboxExistsError(id);
    const rec = ctx.registry.holdRecord({ id, name, created: nowRfc3339Nano() });
    try {
      const key = await ctx.withContainer(id, async () => {
        // Recorded (durably, with its name) before newSandbox returns.
        const sb = await ctx.controller.newSandbox(id, {
          containerName: rec.name,
          hostname: r.hostname ?? id.slice(0, 12),
          ...(r.domainname ? { domainname: r.domainname } : {}),
          ...ctx.dnsFor(r),
          extraHosts,
          useHostNamespace: r.useHostNetwork,
        });
        const host = r.useHostNetwork ? ctx.controller.networks().find((n) => n.type === 'host') : undefined;
        if (host) {
          // As `docker run --network host`: the container shows on the host network.
          try {
            await host.connect(id, { endpointName: rec.name });
          } catch (err) {
            await ctx.controller.deleteSandbox(id, { deleteEndpoints: true }).catch((undoErr: unknown) => {
              (err as Error & { rollbackErrors?: unknown[] }).rollbackErrors = [undoErr];
            });
            throw err;
          }
        }
        return sb.key;
      });
      return { status: 201, body: { Id: id, SandboxKey: key } };
    } finally {
      ctx.registry.release(id);
    }
  });

  router.add('GET', '/sandboxes', async () => {
    const list = await Promise.all(
      ctx.controller.allSandboxes().map((sb) => dockerSandbox(sb, containerOf(sb))),
    );
    return { status: 200, body: list };
  });

  router.add('GET', '/sandboxes/{id}', async (req) => {
    const rec = lookup(ctx, req.params.id!);
    const sb = ctx.controller.sandboxByContainer(rec.id);
    if (!sb) throw new UnknownSandboxError(rec.id);
    return { status: 200, body: await dockerSandbox(sb, rec) };
  });

  router.add('DELETE', '/sandboxes/{id}', async (req) => {
    const rec = lookup(ctx, req.params.id!);
    await ctx.withContainer(rec.id, async () => {
      if (!ctx.controller.sandboxByContainer(rec.id)) throw new UnknownSandboxError(rec.id);
      // Its endpoints leave and go (they were made for it by connect), then the sandbox: recorded
      // as one intent first, so a crash midway is finished at the next start.
      await ctx.controller.deleteSandbox(rec.id, { deleteEndpoints: true });
    });
    return { status: 204 };
  });
}

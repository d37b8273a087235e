/**
 * dnet's native attachment routes: an EXISTING network namespace (a container runtime's, by path)
 * attached to a network as a container's sandbox, under a chosen interface name. This is what the
 * CNI plugin (src/cni/) asks for; an attachment is named by `(container ID, interface name)`, as
 * CNI names it.
 *
 *   POST   /attachments                       attach (201, the attachment)
 *   GET    /attachments?network=NAME          list
 *   GET    /attachments/{container}/{ifname}  one
 *   DELETE /attachments/{container}/{ifname}  detach (204; 404 when there is no such attachment)
 *   POST   /attachments/{container}/{ifname}/check   what is wrong with it ({"Problems": [...]})
 *   POST   /attachments/gc                    remove every attachment of a network not listed
 *   GET    /attachments/status?network=NAME   can the network take one more attachment?
 *
 * An attachment is an endpoint made for it (its driver options carry the container ID and the
 * interface name) joined to an external-namespace sandbox (controller.newSandbox with
 * `externalNetns`). dnet never creates nor removes the namespace; detaching releases the address,
 * the published ports, the host-side interface and the records even when the namespace is gone.
 */

import { attach, detach, gcAttachments } from '../attachments/attach.ts';
import { check, status } from '../attachments/inspect.ts';
import {
  type AttachPortMapping,
  type AttachRequest,
  attachmentEndpoints,
  findAttachment,
  info,
  UnknownAttachmentError,
} from '../attachments/model.ts';
import type { ApiContext } from '../context.ts';
import { BadRequestError } from '../errors.ts';
import type { Router } from '../router.ts';
import { Fields } from '../schemas.ts';
import { findNetwork } from './networks.ts';

export { reapDetachedAttachments } from '../attachments/attach.ts';
export { ATTACHMENT_CONTAINER_OPTION, type AttachmentInfo } from '../attachments/model.ts';

function parseAttach(body: unknown): AttachRequest {
  const f = Fields.body(body);
  const need = (k: string): string => {
    const v = f.string(k);
    if (v === undefined || v === '') throw new BadRequestError(`invalid request: ${k} is required`);
    return v;
  };
  const ports = (f.objectArray('PortMappings') ?? []).map((p, i): AttachPortMapping => {
    const num = (k: string, min: number): number => {
      const v = p.raw(k);
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 65535) {
        throw new BadRequestError(
          `invalid JSON: PortMappings[${i}].${k} must be a port number, got ${String(v)}`,
        );
      }
      return v;
    };
    const proto = (p.string('Protocol') ?? 'tcp').toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') {
      throw new BadRequestError(
        `invalid JSON: PortMappings[${i}].Protocol must be tcp, udp or sctp, got ${proto}`,
      );
    }
    const hostIP = p.string('HostIP');
    return {
      hostPort: num('HostPort', 0),
      containerPort: num('ContainerPort', 1),
      protocol: proto,
      ...(hostIP ? { hostIP } : {}),
    };
  });
  const mac = f.string('MAC');
  const name = f.string('Name');
  return {
    network: need('Network'),
    containerId: need('ContainerID'),
    netns: need('Netns'),
    ifName: need('IfName'),
    ips: f.stringArray('IPs') ?? [],
    ...(mac ? { mac } : {}),
    portMappings: ports,
    ...(name ? { name } : {}),
  };
}

export function attachmentRoutes(router: Router, ctx: ApiContext): void {
  router.add('POST', '/attachments', async (req) => {
    const ep = await attach(ctx, parseAttach(await req.json()));
    return { status: 201, body: await info(ep) };
  });

  router.add('GET', '/attachments', async (req) => {
    const name = req.query.get('network');
    const n = name ? findNetwork(ctx, name) : undefined;
    const list = await Promise.all(attachmentEndpoints(ctx, n).map((ep) => info(ep)));
    return { status: 200, body: list };
  });

  router.add('GET', '/attachments/status', async (req) => {
    const name = req.query.get('network');
    if (!name) throw new BadRequestError('the network query parameter is required');
    const s = status(findNetwork(ctx, name));
    return { status: 200, body: { Ready: s.ready, Message: s.message } };
  });

  router.add('POST', '/attachments/gc', async (req) => {
    const f = Fields.body(await req.json());
    const name = f.string('Network');
    if (!name) throw new BadRequestError('invalid request: Network is required');
    const valid = (f.objectArray('Valid') ?? []).map((v) => ({
      ContainerID: v.string('ContainerID') ?? '',
      IfName: v.string('IfName') ?? '',
    }));
    const { removed, errors } = await gcAttachments(ctx, findNetwork(ctx, name), valid);
    return { status: 200, body: { Removed: removed, Errors: errors } };
  });

  router.add('GET', '/attachments/{container}/{ifname}', async (req) => {
    const cid = req.params.container!;
    const ifName = req.params.ifname!;
    const ep = findAttachment(ctx, cid, ifName);
    if (!ep) throw new UnknownAttachmentError(cid, ifName);
    return { status: 200, body: await info(ep) };
  });

  router.add('POST', '/attachments/{container}/{ifname}/check', async (req) => {
    const cid = req.params.container!;
    const ifName = req.params.ifname!;
    const ep = findAttachment(ctx, cid, ifName);
    if (!ep) throw new UnknownAttachmentError(cid, ifName);
    return { status: 200, body: { Problems: await check(ep), Attachment: await info(ep) } };
  });

  router.add('DELETE', '/attachments/{container}/{ifname}', async (req) => {
    await detach(ctx, req.params.container!, req.params.ifname!);
    return { status: 204 };
  });
}

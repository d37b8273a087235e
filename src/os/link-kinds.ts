/**
 * Links whose kind lives in a kernel module (vlan: 8021q, dummy, ipvlan, macvlan): made with a
 * clear error when the kernel lacks the module. Nothing is assumed: the kernel is asked (a module
 * listed under /sys/module is there; otherwise the link is made, or a throwaway one as a probe,
 * and rtnetlink's EOPNOTSUPP "Unknown device type" answer is what says the module is missing).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { KernelModuleMissingError, NetlinkError } from '../errors/os.ts';
import type { LinkSpec, NetlinkHandle } from './netlink/index.ts';

const EOPNOTSUPP = 95;

/** The module that provides each link kind (`rtnl-link-<kind>` aliases). */
export const MODULE_OF_KIND: Readonly<Record<LinkSpec['kind'], string>> = {
  veth: 'veth',
  bridge: 'bridge',
  vxlan: 'vxlan',
  macvlan: 'macvlan',
  vlan: '8021q',
  ipvlan: 'ipvlan',
  dummy: 'dummy',
};

function isUnknownKind(err: unknown): err is NetlinkError {
  // EOPNOTSUPP (95; errno names it ENOTSUP too): rtnetlink found no `rtnl-link-<kind>`.
  return err instanceof NetlinkError && err.errno === EOPNOTSUPP;
}

/**
 * Equivalent to: `ip link add ...`, as NetlinkHandle.linkAdd, with a KernelModuleMissingError
 * (naming the module) when the kernel cannot make links of that kind. `purpose` says what the
 * link is for ("the macvlan network's 802.1q parent eth0.10").
 */
export function linkAddOfKind(nl: NetlinkHandle, spec: LinkSpec, purpose: string): number {
  try {
    return nl.linkAdd(spec);
  } catch (err) {
    if (isUnknownKind(err)) {
      throw new KernelModuleMissingError(MODULE_OF_KIND[spec.kind], spec.kind, purpose, { cause: err });
    }
    throw err;
  }
}

/**
 * Whether the kernel makes links of `spec.kind`: its module is loaded (/sys/module lists it), or a
 * throwaway link of that kind (named `dnprobe` + 8 hex, deleted at once) can be made. Throws
 * KernelModuleMissingError when it cannot; other failures of the probe (the parent refuses it...)
 * are left to the real request to report.
 */
export function ensureLinkKind(
  nl: NetlinkHandle,
  spec: Omit<Extract<LinkSpec, { kind: 'ipvlan' | 'macvlan' | 'vlan' }>, 'name'>,
  purpose: string,
): void {
  if (kindsSeen.has(spec.kind) || existsSync(`/sys/module/${MODULE_OF_KIND[spec.kind]}`)) return;
  const name = `dnprobe${randomBytes(4).toString('hex')}`;
  let index: number | undefined;
  try {
    index = linkAddOfKind(nl, { ...spec, name } as LinkSpec, purpose);
    kindsSeen.add(spec.kind);
  } catch (err) {
    if (err instanceof KernelModuleMissingError) throw err;
    return;
  } finally {
    if (index !== undefined) nl.linkDelIfExists(index);
  }
}

/** Kinds a probe made once: a module in use is not unloaded, so they are not probed again. */
const kindsSeen = new Set<LinkSpec['kind']>();

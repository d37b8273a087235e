/**
 * The macvlan and ipvlan drivers' options, parsed once into a typed config (Docker's
 * `-o parent=`, `-o macvlan_mode=`, `-o ipvlan_mode=`, `-o ipvlan_flag=`).
 */
import { InvalidOptionError } from '../../errors/cnm.ts';
import type { IpvlanFlag, IpvlanMode, MacvlanMode } from '../../os/netlink/index.ts';

export const OPT_PARENT = 'parent';
export const OPT_MACVLAN_MODE = 'macvlan_mode';
export const OPT_IPVLAN_MODE = 'ipvlan_mode';
export const OPT_IPVLAN_FLAG = 'ipvlan_flag';

export type VlanKind = 'macvlan' | 'ipvlan';

/** How the parent link comes to be: it exists, or the driver makes it (and removes it later). */
export type ParentPlan =
  /** `-o parent=eth0.10` naming no link: an 802.1q sub-interface of `base`, VLAN `vlanId`. */
  | { make: 'vlan'; base: string; vlanId: number }
  /** No `parent`: a dummy link `dm-<12 hex of the network ID>`; the network is internal. */
  | { make: 'dummy' };

export type SlaveMode =
  | { kind: 'macvlan'; mode: MacvlanMode }
  | { kind: 'ipvlan'; mode: IpvlanMode; flag: IpvlanFlag };

export interface VlanNetworkConfig {
  /** The parent link's name (`dm-<id>` for a parent-less network). */
  parent: string;
  /** Whether `parent` was given (false: the dummy parent). */
  parentGiven: boolean;
  slave: SlaveMode;
  /** No way out: no default route (always for a parent-less network, as Docker). */
  internal: boolean;
}

const MACVLAN_MODES: readonly string[] = ['bridge', 'private', 'vepa', 'passthru'];
const IPVLAN_MODES: readonly string[] = ['l2', 'l3', 'l3s'];
const IPVLAN_FLAGS: readonly string[] = ['bridge', 'private', 'vepa'];

/** Docker's dummy parent name: `dm-` + the network ID's first 12 characters. */
export const dummyName = (networkId: string) => `dm-${networkId.slice(0, 12)}`;

function parentProblem(kind: VlanKind, name: string): string | undefined {
  if (Buffer.byteLength(name) > 15) return 'an interface name is 1 to 15 bytes long';
  if (name === '.' || name === '..' || /[/:\s]/.test(name)) return 'not a usable interface name';
  if (name === 'lo') return `loopback interface is not a valid ${kind} parent link`;
  return undefined;
}

function slaveMode(kind: VlanKind, generic: Record<string, string>): SlaveMode {
  if (kind === 'macvlan') {
    const mode = generic[OPT_MACVLAN_MODE] || 'bridge';
    if (!MACVLAN_MODES.includes(mode)) {
      throw new InvalidOptionError(
        OPT_MACVLAN_MODE,
        mode,
        `requested macvlan mode '${mode}' is not valid, 'bridge' mode is the macvlan driver default`,
      );
    }
    return { kind, mode: mode as MacvlanMode };
  }
  const mode = generic[OPT_IPVLAN_MODE] || 'l2';
  if (!IPVLAN_MODES.includes(mode)) {
    throw new InvalidOptionError(
      OPT_IPVLAN_MODE,
      mode,
      `requested ipvlan mode '${mode}' is not valid, 'l2' mode is the ipvlan driver default`,
    );
  }
  const flag = generic[OPT_IPVLAN_FLAG] || 'bridge';
  if (!IPVLAN_FLAGS.includes(flag)) {
    throw new InvalidOptionError(
      OPT_IPVLAN_FLAG,
      flag,
      `requested ipvlan flag '${flag}' is not valid, 'bridge' is the ipvlan driver default`,
    );
  }
  return { kind, mode: mode as IpvlanMode, flag: flag as IpvlanFlag };
}

export function parseNetworkOptions(
  kind: VlanKind,
  networkId: string,
  generic: Record<string, string>,
  flags: { internal: boolean },
): VlanNetworkConfig {
  const given = generic[OPT_PARENT] ?? '';
  const parentGiven = given !== '';
  if (parentGiven) {
    const problem = parentProblem(kind, given);
    if (problem) throw new InvalidOptionError(OPT_PARENT, given, problem);
  }
  return {
    parent: parentGiven ? given : dummyName(networkId),
    parentGiven,
    slave: slaveMode(kind, generic),
    internal: flags.internal || !parentGiven,
  };
}

/**
 * How to get a parent that does not exist: Docker's rules (macvlan_setup.go). A dotted name is an
 * 802.1q sub-interface of an existing link; no parent given makes a dummy; anything else is refused.
 */
export function planMissingParent(cfg: VlanNetworkConfig, exists: (name: string) => boolean): ParentPlan {
  if (!cfg.parentGiven) return { make: 'dummy' };
  const name = cfg.parent;
  if (!name.includes('.')) {
    throw new InvalidOptionError(
      OPT_PARENT,
      name,
      `the requested parent interface ${name} was not found on the host; ` +
        'give an existing link, or name.vlan_id (eth0.10) for an 802.1q sub-interface',
    );
  }
  const parts = name.split('.');
  const [base, vid] = parts;
  if (parts.length !== 2 || !base || !vid) {
    throw new InvalidOptionError(
      OPT_PARENT,
      name,
      `required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received ${name}`,
    );
  }
  const vlanId = /^\d+$/.test(vid) ? Number(vid) : Number.NaN;
  if (!Number.isInteger(vlanId)) {
    throw new InvalidOptionError(
      OPT_PARENT,
      name,
      `unable to parse a valid vlan id from: ${vid} (ex. eth0.10 for vlan 10)`,
    );
  }
  if (vlanId < 1 || vlanId > 4094) {
    throw new InvalidOptionError(OPT_PARENT, name, `vlan id must be between 1-4094, received: ${vlanId}`);
  }
  if (!exists(base)) {
    throw new InvalidOptionError(OPT_PARENT, name, `-o parent interface was not found on the host: ${base}`);
  }
  return { make: 'vlan', base, vlanId };
}

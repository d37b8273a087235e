import { DnetError } from './base.ts';

/**
 * Errors of configuration-only networks (Docker's `--config-only` / `--config-from`). The messages
 * are dockerd's own (daemon/libnetwork/network.go, controller.go), as are the kinds: dockerd answers
 * 403 for every rule below and 404 for a configuration network that does not exist.
 */

/** A container or endpoint was given a configuration-only network: it has no driver state to join. */
export class ConfigOnlyNetworkError extends DnetError {
  readonly code = 'ERR_CONFIG_ONLY_NETWORK';
  readonly kind = 'forbidden';
  constructor(readonly networkName: string) {
    super('cannot create endpoint on configuration-only network');
  }
}

/** A configuration-only network cannot be removed while a network is created from it. */
export class ConfigNetworkInUseError extends DnetError {
  readonly code = 'ERR_CONFIG_NETWORK_IN_USE';
  readonly kind = 'forbidden';
  constructor(
    readonly networkName: string,
    readonly usedBy: readonly string[],
  ) {
    super(`configuration network ${JSON.stringify(networkName)} is in use`);
  }
}

/** `configFrom` names no configuration-only network. */
export class UnknownConfigNetworkError extends DnetError {
  readonly code = 'ERR_UNKNOWN_CONFIG_NETWORK';
  readonly kind = 'not-found';
  constructor(readonly networkName: string) {
    super(`configuration network ${JSON.stringify(networkName)} does not exist`);
  }
}

/** Why a configuration-only network, or one created from it, was refused. */
export type ConfigNetworkRule = 'operator-fields' | 'chained' | 'own-config' | 'own-driver-options';

const RULE_TEXT: Record<ConfigNetworkRule, string> = {
  'operator-fields':
    'configuration network can only contain network specific fields. Network operator fields like ' +
    '[ ingress | internal | attachable | scope ] are not supported.',
  chained: 'a configuration network cannot depend on another configuration network',
  'own-config':
    'user-specified configurations are not supported if the network depends on a configuration network',
  'own-driver-options':
    'network driver options are not supported if the network depends on a configuration network',
};

/**
 * A configuration-only network given operator fields (internal, attachable...) or `configFrom`, or
 * a network created from one given IPAM, IPv6, labels or driver options of its own.
 */
export class ConfigNetworkOptionsError extends DnetError {
  readonly code = 'ERR_CONFIG_NETWORK_OPTIONS';
  readonly kind = 'forbidden';
  constructor(readonly rule: ConfigNetworkRule) {
    super(RULE_TEXT[rule]);
  }
}

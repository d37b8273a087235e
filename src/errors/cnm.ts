import { DnetError } from './base.ts';
import { NAME_RULE, plural, q } from './format.ts';

/**
 * The Container Network Model's errors about drivers, networks and options, named after the seed's (libnetwork/error.go). Each says
 * what was wrong and what to do about it.
 *
 * Kinds (and so HTTP statuses, src/errors/http.ts) follow what dockerd answers for the same
 * condition wherever Docker's API documents one, so `docker` and `dockerode` behave as they do
 * against dockerd; elsewhere they follow the meanings in base.ts.
 */

// --- drivers -------------------------------------------------------------------------------

/**
 * No built-in driver and no plugin has this name. Kind `not-found` (404), not `invalid`: dockerd
 * looks an unknown driver up as a plugin and answers 404 "plugin ... not found" (the seed marks
 * NetworkTypeError NotFound too), and clients such as compose treat that 404 as "install the plugin".
 */
export class NetworkTypeError extends DnetError {
  readonly code = 'ERR_UNKNOWN_DRIVER';
  readonly kind = 'not-found';
  constructor(
    readonly driver: string,
    known: readonly string[] = [],
  ) {
    const builtIns = known.length > 0 ? `use one of ${known.join(', ')}, or ` : '';
    super(
      `unknown network driver ${q(driver)}: ${builtIns}install a network plugin named ${q(driver)} ` +
        `(a socket under /run/docker/plugins or a spec file under /etc/docker/plugins)`,
    );
  }
}

/**
 * No built-in IPAM driver and no IPAM plugin has this name. `not-found` (404), as NetworkTypeError
 * (dockerd looks the name up as a plugin and answers 404 `plugin "x" not found`).
 */
export class UnknownIpamDriverError extends DnetError {
  readonly code = 'ERR_UNKNOWN_IPAM_DRIVER';
  readonly kind = 'not-found';
  constructor(
    readonly driver: string,
    known: readonly string[] = [],
  ) {
    const builtIns = known.length > 0 ? `use ${known.join(' or ')}, or ` : '';
    super(
      `unknown IPAM driver ${q(driver)}: ${builtIns}install an IPAM plugin named ${q(driver)} ` +
        `(a socket under /run/docker/plugins or a spec file under /etc/docker/plugins)`,
    );
  }
}

// --- networks ------------------------------------------------------------------------------

/** A network with this name already exists. 409, as dockerd answers a duplicate name since API 1.44. */
export class NetworkNameError extends DnetError {
  readonly code = 'ERR_NETWORK_NAME_EXISTS';
  readonly kind = 'conflict';
  constructor(readonly networkName: string) {
    super(
      `network with name ${q(networkName)} already exists: choose another name, ` +
        `or remove the existing one first (dnet network rm ${networkName})`,
    );
  }
}

/** A network name breaks the naming rule (src/errors/validate.ts). */
export class InvalidNetworkNameError extends DnetError {
  readonly code = 'ERR_INVALID_NETWORK_NAME';
  readonly kind = 'invalid';
  constructor(
    readonly networkName: string,
    readonly reason: string,
  ) {
    super(`invalid network name ${q(networkName)}: ${reason} (${NAME_RULE})`);
  }
}

/** No network has this name, ID or ID prefix. */
export class UnknownNetworkError extends DnetError {
  readonly code = 'ERR_UNKNOWN_NETWORK';
  readonly kind = 'not-found';
  constructor(readonly ref: string) {
    // "network X not found" is dockerd's text; keep it so scripts that print it read the same.
    super(`network ${q(ref)} not found: list the networks with dnet network ls`);
  }
}

/** An ID prefix matches more than one network. 400, as dockerd answers (InvalidParameter). */
export class AmbiguousNetworkError extends DnetError {
  readonly code = 'ERR_AMBIGUOUS_NETWORK';
  readonly kind = 'invalid';
  constructor(
    readonly ref: string,
    readonly matches: number,
  ) {
    super(
      `network ${q(ref)} is ambiguous: the IDs of ${plural(matches, 'network', 'networks')} start with it; ` +
        `give more characters of the ID, or the network's name`,
    );
  }
}

/**
 * A network still has endpoints, so it cannot be deleted. 403, as dockerd (DELETE /networks/{id}
 * documents 403 and the seed marks ActiveEndpointsError Forbidden).
 */
export class ActiveEndpointsError extends DnetError {
  readonly code = 'ERR_ACTIVE_ENDPOINTS';
  readonly kind = 'forbidden';
  readonly endpoints: readonly string[];
  constructor(
    readonly networkName: string,
    endpoints: readonly string[],
  ) {
    const listed = endpoints.length > 0 ? ` (${endpoints.join(', ')})` : '';
    super(
      `network ${q(networkName)} has active endpoints: ${plural(endpoints.length, 'endpoint', 'endpoints')}` +
        `${listed} still attached; disconnect them first (dnet network disconnect ${networkName} <container>)`,
    );
    this.endpoints = [...endpoints];
  }
}

/** The operations that pre-defined networks refuse. */
export type PredefinedNetworkOperation = 'create' | 'remove' | 'connect' | 'disconnect';

/**
 * `bridge`, `host` and `none` exist from the start; they cannot be removed, created again, and
 * (host, none) cannot take connections after the fact. 403, as dockerd.
 */
export class PredefinedNetworkError extends DnetError {
  readonly code = 'ERR_PREDEFINED_NETWORK';
  readonly kind = 'forbidden';
  constructor(
    readonly networkName: string,
    readonly operation: PredefinedNetworkOperation,
  ) {
    const what: Record<PredefinedNetworkOperation, string> = {
      create: `${q(networkName)} is the name of a pre-defined network: choose another name`,
      remove: `${q(networkName)} is a pre-defined network and cannot be removed: remove only networks you created`,
      connect: `operation not permitted on pre-defined network ${q(networkName)}: connect to a network you created`,
      disconnect: `operation not permitted on pre-defined network ${q(networkName)}: remove the sandbox instead (dnet sandbox rm)`,
    };
    super(what[operation]);
  }
}
// --- options -------------------------------------------------------------------------------

/**
 * A driver, network, endpoint or DNS option has a value that cannot be used. Carries the option's
 * name (`com.docker.network.driver.mtu`, `dns`...), the value as given and why it was refused.
 */
export class InvalidOptionError extends DnetError {
  readonly code = 'ERR_INVALID_OPTION';
  readonly kind = 'invalid';
  /** The value as received, rendered for display (JSON where possible). */
  readonly value: string;
  constructor(
    readonly option: string,
    value: unknown,
    readonly reason: string,
  ) {
    const shown = render(value);
    super(`invalid value ${shown} for option ${q(option)}: ${reason}`);
    this.value = shown;
  }
}

function render(value: unknown): string {
  if (typeof value === 'bigint') return `${value}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

import { DnetError } from './base.ts';

/**
 * The Container Network Model's errors, named after the seed's (libnetwork/error.go). Each says
 * what was wrong and what to do about it.
 *
 * Kinds (and so HTTP statuses, src/errors/http.ts) follow what dockerd answers for the same
 * condition wherever Docker's API documents one, so `docker` and `dockerode` behave as they do
 * against dockerd; elsewhere they follow the meanings in base.ts.
 */

/** Quotes a caller-supplied string so control characters and spaces show (`"a\nb"`). */
function q(s: string): string {
  return JSON.stringify(s);
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The name rule src/errors/validate.ts enforces, repeated in every invalid-name message. */
const NAME_RULE = 'names start with a letter or digit, then letters, digits, "_", "." or "-"';

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

// --- endpoints -----------------------------------------------------------------------------

/** An endpoint name breaks the naming rule (src/errors/validate.ts). */
export class InvalidEndpointNameError extends DnetError {
  readonly code = 'ERR_INVALID_ENDPOINT_NAME';
  readonly kind = 'invalid';
  constructor(
    readonly endpointName: string,
    readonly reason: string,
  ) {
    super(`invalid endpoint name ${q(endpointName)}: ${reason} (${NAME_RULE})`);
  }
}

/** No endpoint of this network has this name or ID. */
export class UnknownEndpointError extends DnetError {
  readonly code = 'ERR_UNKNOWN_ENDPOINT';
  readonly kind = 'not-found';
  constructor(
    readonly ref: string,
    readonly networkName?: string,
  ) {
    super(
      networkName === undefined
        ? `endpoint ${q(ref)} not found`
        : `endpoint ${q(ref)} not found in network ${q(networkName)}: ` +
            `list its endpoints with dnet network inspect ${networkName}`,
    );
  }
}

/**
 * The network already has an endpoint with this name. dockerd answers 403 here; we answer 409,
 * like a duplicate network name, because the same name becomes free again once the endpoint goes
 * (a state conflict, base.ts), and Docker's clients print the message whatever the status.
 */
export class EndpointExistsError extends DnetError {
  readonly code = 'ERR_ENDPOINT_EXISTS';
  readonly kind = 'conflict';
  constructor(
    readonly endpointName: string,
    readonly networkName: string,
  ) {
    super(
      `endpoint with name ${q(endpointName)} already exists in network ${q(networkName)}: ` +
        `choose another name, or delete that endpoint first`,
    );
  }
}

/**
 * An endpoint still has a container joined, so it cannot be deleted. 403 as the seed
 * (ActiveContainerError is Forbidden there), the same status as ActiveEndpointsError.
 */
export class ActiveContainerError extends DnetError {
  readonly code = 'ERR_ACTIVE_CONTAINER';
  readonly kind = 'forbidden';
  constructor(
    readonly endpointName: string,
    readonly containerID: string,
  ) {
    super(
      `endpoint ${q(endpointName)} has active containers: container ${q(containerID)} is joined; ` +
        `make it leave first (endpoint.leave(${q(containerID)}) or dnet network disconnect <network> ${containerID})`,
    );
  }
}

// --- containers and sandboxes --------------------------------------------------------------

/** A container ID (which names a sandbox) breaks the naming rule (src/errors/validate.ts). */
export class InvalidContainerIDError extends DnetError {
  readonly code = 'ERR_INVALID_CONTAINER_ID';
  readonly kind = 'invalid';
  constructor(
    readonly containerID: string,
    readonly reason: string,
  ) {
    super(`invalid container id ${q(containerID)}: ${reason} (${NAME_RULE})`);
  }
}

/**
 * The endpoint is already joined: an endpoint joins one sandbox at a time. 409: the endpoint's
 * current state refuses it (dockerd says 400, but the request itself is well formed).
 */
export class InvalidJoinError extends DnetError {
  readonly code = 'ERR_INVALID_JOIN';
  readonly kind = 'conflict';
  constructor(
    readonly endpointName: string,
    readonly joinedContainerID: string,
  ) {
    super(
      `a container has already joined endpoint ${q(endpointName)} (container ${q(joinedContainerID)}): ` +
        `an endpoint joins one container; create another endpoint, or make ${q(joinedContainerID)} leave first`,
    );
  }
}

/**
 * Leave was asked for a container that is not the one joined (none, or another). 409: the
 * endpoint's state does not match the request.
 */
export class NoContainerError extends DnetError {
  readonly code = 'ERR_NO_CONTAINER';
  readonly kind = 'conflict';
  constructor(
    readonly endpointName: string,
    readonly containerID: string,
    readonly joinedContainerID?: string,
  ) {
    super(
      joinedContainerID === undefined
        ? `no container is joined to endpoint ${q(endpointName)}, so ${q(containerID)} cannot leave it: ` +
            `nothing to do`
        : `endpoint ${q(endpointName)} is joined by container ${q(joinedContainerID)}, not ${q(containerID)}: ` +
            `leave with ${q(joinedContainerID)}`,
    );
  }
}

/** No sandbox exists for this container ID. */
export class UnknownSandboxError extends DnetError {
  readonly code = 'ERR_UNKNOWN_SANDBOX';
  readonly kind = 'not-found';
  constructor(readonly containerID: string) {
    super(`sandbox for container ${q(containerID)} not found: list the sandboxes with dnet sandbox ls`);
  }
}

/** A sandbox already exists for this container ID (explicit `dnet sandbox create` twice). */
export class SandboxExistsError extends DnetError {
  readonly code = 'ERR_SANDBOX_EXISTS';
  readonly kind = 'conflict';
  constructor(readonly containerID: string) {
    super(
      `a sandbox for container ${q(containerID)} already exists: use it, ` +
        `or remove it first (dnet sandbox rm ${containerID})`,
    );
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

/**
 * A container in the host's network namespace cannot also join a network with a namespace of its
 * own, and the other way round (Docker refuses `--network host` together with other networks).
 */
export class SandboxModeError extends DnetError {
  readonly code = 'ERR_SANDBOX_MODE';
  readonly kind = 'conflict';
  constructor(
    readonly containerID: string,
    readonly inHostNamespace: boolean,
  ) {
    super(
      inHostNamespace
        ? `container ${q(containerID)} uses the host's network namespace (host network): it cannot join ` +
            `another network; make it leave the host network first`
        : `container ${q(containerID)} has a network namespace of its own: it cannot join the host network; ` +
            `make it leave its other networks first`,
    );
  }
}

// --- teardown and lifecycle ----------------------------------------------------------------

/**
 * Taking something down (a leave, an endpoint's or a sandbox's removal) met failures. Every step
 * was attempted; `errors` holds each failure (an aggregate, as AggregateError), and the message
 * lists them. What may still exist keeps its record: the next start finishes the removal.
 */
export class TeardownError extends DnetError {
  readonly code = 'ERR_TEARDOWN';
  readonly kind = 'internal';
  readonly errors: readonly unknown[];
  constructor(
    readonly what: string,
    errors: readonly unknown[],
  ) {
    const listed = errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ');
    super(
      `${what}: ${plural(errors.length, 'step', 'steps')} failed (${listed}); ` +
        `what may remain is kept on record and removed again at the next start of dnet`,
      { cause: errors[0] },
    );
    this.errors = [...errors];
  }
}

/** The controller was closed: it takes no more operations. */
export class ControllerClosedError extends DnetError {
  readonly code = 'ERR_CONTROLLER_CLOSED';
  readonly kind = 'unavailable';
  constructor() {
    super('the network controller is closed: create a new one (NetworkController.create) to go on');
  }
}

/**
 * At start, the IPAM driver and the store disagree about a network's pool (the IPAM gave another
 * pool ID for the recorded subnet): the network is not restored, and its record is kept.
 */
export class RestoreConflictError extends DnetError {
  readonly code = 'ERR_RESTORE_CONFLICT';
  readonly kind = 'internal';
  constructor(
    readonly subnet: string,
    readonly recordedPoolId: string,
    readonly givenPoolId: string,
  ) {
    super(
      `the IPAM driver gave pool ${q(givenPoolId)} for ${subnet}, the store records ${q(recordedPoolId)}: ` +
        `the network is not restored; check the IPAM driver's own state (a remote IPAM that lost its pools)`,
    );
  }
}

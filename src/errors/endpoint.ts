import { DnetError } from './base.ts';
import { NAME_RULE, q } from './format.ts';

/**
 * The Container Network Model's errors about endpoints, containers and sandboxes (named after the
 * seed's, libnetwork/error.go); kinds follow the rules written at the top of cnm.ts.
 */

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

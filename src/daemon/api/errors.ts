/**
 * The HTTP API's own errors: what is wrong with a request before it reaches the core (version,
 * route, body, filters), and the Docker rules the daemon enforces on top of the core (containers,
 * the host and none networks). Like every DnetError, the `kind` alone decides the HTTP status
 * (src/errors/http.ts); messages that Docker's clients or scripts may match keep dockerd's text.
 */

import { compareVersions } from '../../dotted-version.ts';
import { DnetError } from '../../errors/base.ts';

const q = (s: string): string => JSON.stringify(s);

/** The request's API version is outside the range the daemon serves (dockerd's message). */
export class ApiVersionError extends DnetError {
  readonly code = 'ERR_API_VERSION';
  readonly kind = 'invalid';
  constructor(
    readonly version: string,
    readonly min: string,
    readonly max: string,
  ) {
    super(
      compareVersions(version, min) < 0
        ? `client version ${version} is too old. Minimum supported API version is ${min}, please upgrade your client to a newer version`
        : `client version ${version} is too new. Maximum supported API version is ${max}`,
    );
  }
}

/** No route has this method and path. dockerd's body: `{"message":"page not found"}`. */
export class PageNotFoundError extends DnetError {
  readonly code = 'ERR_PAGE_NOT_FOUND';
  readonly kind = 'not-found';
  constructor() {
    super('page not found');
  }
}

/**
 * A part of Docker's API that dnet does not serve (containers, images, volumes, `system/df`,
 * swarm...). 501 Not Implemented: the route is Docker's and well formed, this daemon implements
 * no such thing (dockerd answers 501, errdefs.NotImplemented, for what its build or platform does
 * not implement); 404 "page not found" stays for paths that are no part of Docker's API. The docker
 * CLI prints the message (`docker ps`: "Error response from daemon: dnet serves ...").
 */
export class NotServedError extends DnetError {
  readonly code = 'ERR_NOT_SERVED';
  readonly kind = 'not-implemented';
  constructor(
    readonly method: string,
    readonly path: string,
  ) {
    super(
      `dnet serves networks and sandboxes only: ${method} ${path} is part of Docker Engine's API that dnet ` +
        `does not implement (containers, images, volumes and the rest are dockerd's); the network commands ` +
        `(docker network ...) work`,
    );
  }
}

/** The first path segments of Docker Engine API routes that dnet does not serve. */
const DOCKER_API_RESOURCES = new Set([
  'auth',
  'build',
  'commit',
  'configs',
  'containers',
  'distribution',
  'exec',
  'grpc',
  'images',
  'nodes',
  'plugins',
  'secrets',
  'services',
  'session',
  'swarm',
  'system',
  'tasks',
  'volumes',
]);

/** Whether an unmatched path belongs to Docker's API (NotServedError) rather than to no API (404). */
export function isDockerApiPath(path: string): boolean {
  return DOCKER_API_RESOURCES.has(path.split('/')[1] ?? '');
}

/**
 * The request itself is malformed: a body that is not JSON (or not `application/json`), a field
 * of the wrong type, a missing required field, a bad query parameter or filter, a body too large.
 */
export class BadRequestError extends DnetError {
  readonly code = 'ERR_BAD_REQUEST';
  readonly kind = 'invalid';
}

/** A Docker feature the daemon does not implement (swarm scope, ingress, config-only networks...). */
export class UnsupportedFeatureError extends DnetError {
  readonly code = 'ERR_UNSUPPORTED';
  readonly kind = 'invalid';
  constructor(
    readonly feature: string,
    hint: string,
  ) {
    super(`${feature} is not supported by dnet: ${hint}`);
  }
}

/** No container has this ID, name or ID prefix (dockerd's "No such container"). */
export class UnknownContainerError extends DnetError {
  readonly code = 'ERR_UNKNOWN_CONTAINER';
  readonly kind = 'not-found';
  constructor(readonly ref: string) {
    super(`No such container: ${ref}`);
  }
}

/** A container ID prefix matches more than one container. */
export class AmbiguousContainerError extends DnetError {
  readonly code = 'ERR_AMBIGUOUS_CONTAINER';
  readonly kind = 'invalid';
  constructor(
    readonly ref: string,
    readonly matches: number,
  ) {
    super(
      `container ${q(ref)} is ambiguous: the IDs of ${matches} containers start with it; ` +
        `give more characters of the ID, or the container's name`,
    );
  }
}

/** A container name breaks Docker's rule (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`). */
export class InvalidContainerNameError extends DnetError {
  readonly code = 'ERR_INVALID_CONTAINER_NAME';
  readonly kind = 'invalid';
  constructor(
    readonly containerName: string,
    readonly reason: string,
  ) {
    super(
      `invalid container name ${q(containerName)}: ${reason} ` +
        `(names start with a letter or digit, then letters, digits, "_", "." or "-")`,
    );
  }
}

/** Another container already has this name (dockerd's message). */
export class ContainerNameConflictError extends DnetError {
  readonly code = 'ERR_CONTAINER_NAME_IN_USE';
  readonly kind = 'conflict';
  constructor(
    readonly containerName: string,
    readonly containerID: string,
  ) {
    super(
      `Conflict. The container name "/${containerName}" is already in use by container "${containerID}". ` +
        `You have to remove (dnet sandbox rm) that container to be able to reuse that name.`,
    );
  }
}

/** The container is not connected to the network it is disconnected from. */
export class NotConnectedError extends DnetError {
  readonly code = 'ERR_NOT_CONNECTED';
  readonly kind = 'not-found';
  constructor(
    readonly containerID: string,
    readonly networkName: string,
  ) {
    super(`container ${containerID} is not connected to network ${networkName}`);
  }
}

/** Which of Docker's network-mode rules a connect or disconnect broke. */
export type NetworkModeRule = 'host' | 'shared' | 'none' | 'alias' | 'ip';

/**
 * A connect or disconnect that Docker refuses because of the container's network mode: the host
 * network is only entered at creation (`POST /sandboxes` with `UseHostNetwork`) and only left by
 * removing the sandbox; a container on the host network cannot join others; `none` excludes every
 * other network; the default `bridge` takes no aliases and no static address. dockerd's messages.
 */
export class NetworkModeError extends DnetError {
  readonly code = 'ERR_NETWORK_MODE';
  readonly kind = 'invalid';
  constructor(readonly rule: NetworkModeRule) {
    const what: Record<NetworkModeRule, string> = {
      host:
        'container cannot be disconnected from host network or connected to host network ' +
        '(a container enters the host network when its sandbox is created with UseHostNetwork, ' +
        'and leaves it when the sandbox is removed)',
      shared:
        'container sharing network namespace with another container or host cannot be connected to any other network',
      none: 'container cannot be connected to multiple networks with one of the networks in private (none) mode',
      alias: 'network-scoped alias is supported only for containers in user defined networks',
      ip: 'user specified IP address is supported on user defined networks only',
    };
    super(what[rule]);
  }
}

/** A second network of the host or null driver (Docker allows one of each: `host` and `none`). */
export class SingletonNetworkError extends DnetError {
  readonly code = 'ERR_SINGLETON_NETWORK';
  readonly kind = 'forbidden';
  constructor(readonly driver: string) {
    super(`only one instance of ${q(driver)} network is allowed`);
  }
}

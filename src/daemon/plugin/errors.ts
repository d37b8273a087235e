import { DnetError } from '../../errors/base.ts';

/**
 * A call of Docker Engine's to dnet's plugin server (NetworkDriver.*, IpamDriver.*) that dnet
 * cannot carry out as asked: a body that is not the protocol's, a field of the wrong type, an
 * option dnet does not know. Answered as `{"Err": message}` (network driver) or
 * `{"Error": message}` (IPAM), which dockerd shows to the user.
 */
export class DockerPluginRequestError extends DnetError {
  readonly code = 'ERR_DOCKER_PLUGIN_REQUEST';
  readonly kind = 'invalid';
  constructor(
    readonly method: string,
    readonly reason: string,
  ) {
    // dockerd prefixes the method (`NetworkDriver.CreateNetwork: dnet: ...`).
    super(`dnet: ${reason}`);
  }
}

/** Docker named a network or endpoint the plugin server has no record of. */
export class DockerPluginUnknownError extends DnetError {
  readonly code = 'ERR_DOCKER_PLUGIN_UNKNOWN';
  readonly kind = 'not-found';
  constructor(
    readonly method: string,
    what: string,
  ) {
    super(
      `dnet: ${what} is not known to dnet (was it removed with dnet network rm, or ` +
        `made while dnet ran with another data dir?); remove it from Docker and create it again`,
    );
  }
}

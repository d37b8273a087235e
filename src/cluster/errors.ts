import { DnetError } from '../errors/base.ts';

/**
 * Errors of global scope (src/cluster/). Each has a stable `code`; the daemon maps `kind` to an
 * HTTP status (src/errors/http.ts). etcd not answering is the store's StoreUnavailableError (503).
 */

/** A global-scope driver (overlay) was asked for, but the daemon runs without a cluster store. */
export class ClusterStoreRequiredError extends DnetError {
  readonly code = 'ERR_CLUSTER_STORE_REQUIRED';
  readonly kind = 'invalid';
  constructor(readonly driver: string) {
    super(
      `the ${driver} driver makes global-scope networks, which need a cluster store: start the daemon ` +
        `with --cluster-store etcd://HOST:PORT and --cluster-advertise IP|IFACE ` +
        `(library: NetworkController.create({ cluster }))`,
    );
  }
}

/** Every VXLAN network identifier of the cluster's range is taken. */
export class VniExhaustedError extends DnetError {
  readonly code = 'ERR_VNI_EXHAUSTED';
  readonly kind = 'conflict';
  constructor(
    readonly first: number,
    readonly last: number,
  ) {
    super(`every VXLAN network identifier ${first}-${last} is in use: remove unused overlay networks`);
  }
}

/** --cluster-advertise names no usable address (an unknown interface, or one without IPv4). */
export class ClusterAdvertiseError extends DnetError {
  readonly code = 'ERR_CLUSTER_ADVERTISE';
  readonly kind = 'invalid';
  constructor(
    readonly value: string,
    readonly reason: string,
  ) {
    super(
      `invalid --cluster-advertise ${JSON.stringify(value)}: ${reason}; give this host's IPv4 address ` +
        `on the underlay (the address other hosts reach it at) or the name of the interface that has it`,
    );
  }
}

/**
 * An endpoint's address was taken by another host while this host was cut off from etcd longer
 * than its lease (its addresses were released then): the endpoint is not published again.
 */
export class AddressClaimedError extends DnetError {
  readonly code = 'ERR_ADDRESS_CLAIMED';
  readonly kind = 'conflict';
  constructor(
    readonly address: string,
    readonly owner: string,
  ) {
    super(
      `address ${address} is now held by host ${owner}: this host was cut off from etcd longer than its ` +
        `lease and its addresses were released; disconnect the container and connect it again`,
    );
  }
}

/**
 * Library errors as dockerd answers the same condition on Docker's routes: its status and its
 * text, where Docker's clients and scripts read them (`docker network create` printing
 * `Error response from daemon: invalid pool request: ...`, compose matching `not found`). The
 * library keeps its typed errors, stable codes and longer messages (with what to do); this module
 * is the one place that turns them into dockerd's words. Everything else goes through
 * src/errors/http.ts unchanged (status from the error's kind, its own message).
 *
 * The source of each text is moby (daemon/libnetwork/error.go, ipamapi/contract.go,
 * ipams/defaultipam/allocator.go, network.go, daemon/network.go, daemon/pkg/plugin/errors.go).
 * dnet's own routes (`/sandboxes`, `/attachments`) keep dnet's messages: no Docker client reads them.
 */

import { type ErrorBody, errorResponse } from '../../errors/http.ts';
import {
  ActiveEndpointsError,
  AddressInUseError,
  EndpointExistsError,
  NetworkNameError,
  NetworkTypeError,
  NoMoreSubnetsError,
  PoolOverlapError,
  PredefinedNetworkError,
  UnknownIpamDriverError,
  UnknownNetworkError,
} from '../../index.ts';

/** dockerd's status and message for `err`, or undefined when dnet's own answer stands. */
export function dockerAnswer(err: unknown): { status: number; message: string } | undefined {
  if (err instanceof UnknownNetworkError) {
    // libnetwork.ErrNoSuchNetwork, errdefs.NotFound
    return { status: 404, message: `network ${err.ref} not found` };
  }
  if (err instanceof NetworkTypeError || err instanceof UnknownIpamDriverError) {
    // an unknown driver is looked up as a plugin: the plugin store's errNotFound (NotFound)
    return { status: 404, message: `plugin ${JSON.stringify(err.driver)} not found` };
  }
  if (err instanceof NetworkNameError) {
    return { status: 409, message: `network with name ${err.networkName} already exists` };
  }
  if (err instanceof PoolOverlapError) {
    // defaultipam RequestPool: types.ForbiddenErrorf("invalid pool request: %v", ErrPoolOverlap)
    return {
      status: 403,
      message: 'invalid pool request: Pool overlaps with other one on this address space',
    };
  }
  if (err instanceof AddressInUseError) {
    // ipamapi.ErrIPAlreadyAllocated, Forbidden
    return { status: 403, message: 'Address already in use' };
  }
  if (err instanceof EndpointExistsError) {
    // a container connected twice: network.go CreateEndpoint, types.ForbiddenErrorf
    return {
      status: 403,
      message: `endpoint with name ${err.endpointName} already exists in network ${err.networkName}`,
    };
  }
  if (err instanceof NoMoreSubnetsError) {
    // ipamapi.ErrNoMoreSubnets, InvalidParameter
    return { status: 400, message: 'all predefined address pools have been fully subnetted' };
  }
  if (err instanceof ActiveEndpointsError) {
    // daemon deleteNetwork wraps libnetwork's ActiveEndpointsError (Forbidden)
    const eps = err.endpoints.map((e) => `name:${JSON.stringify(e)}`).join(', ');
    return {
      status: 403,
      message: `error while removing network: network ${err.networkName} has active endpoints (${eps})`,
    };
  }
  if (err instanceof PredefinedNetworkError) {
    if (err.operation === 'remove') {
      return { status: 403, message: `${err.networkName} is a pre-defined network and cannot be removed` };
    }
    if (err.operation === 'create') {
      // daemon.PredefinedNetworkError, with its trailing space
      return { status: 403, message: `operation is not permitted on predefined ${err.networkName} network ` };
    }
  }
  return undefined;
}

/** The answer for an error on one of Docker's routes: dockerd's where it has one, dnet's otherwise. */
export function dockerErrorResponse(err: unknown): { status: number; body: ErrorBody } {
  const d = dockerAnswer(err);
  return d === undefined ? errorResponse(err) : { status: d.status, body: { message: d.message } };
}

/** dnet's own routes, answered with dnet's messages. */
const NATIVE_PREFIXES = ['/sandboxes', '/attachments'];

export function isNativePath(path: string): boolean {
  return NATIVE_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`));
}

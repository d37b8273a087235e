/** Global scope: host registry, global networks, endpoint tables and VNIs on etcd. */
export {
  Cluster,
  type ClusterOptions,
  DEFAULT_LEASE_TTL,
  DEFAULT_VXLAN_PORT,
  type PeerEndpoint,
  type PeerEndpointNames,
  VNI_FIRST,
  VNI_LAST,
} from './cluster.ts';
export { ClusterAdvertiseError, ClusterStoreRequiredError, VniExhaustedError } from './errors.ts';
export { HostLease } from './lease.ts';
export { type MirrorHandler, type MirrorOptions, TableMirror } from './mirror.ts';

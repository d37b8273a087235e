/**
 * The API versions served: dockerd's range for the network API, 1.40 (Docker 19.03) to 1.48 (28.0).
 * A module of its own so that clients (the CLI, the CNI plugin) get them without loading the
 * daemon's context (its logger).
 */
export const MIN_API_VERSION = '1.40';
export const API_VERSION = '1.48';

/**
 * libnetwork's public entry: the Container Network Model API, the driver API and the errors.
 * Nothing from src/os/ is exported here: the kernel layer is an implementation detail.
 */
export * from './driver-api/ipam.ts';
export * from './errors/cnm.ts';
export { DnetError, type ErrorKind } from './errors/index.ts';

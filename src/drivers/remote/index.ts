export { LABEL, NETWORK_DRIVER_SUBSYSTEM, NODE_DISCOVERY, parseJoin, RemoteDriver } from './driver.ts';

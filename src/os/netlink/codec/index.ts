/** Pure netlink (rtnetlink) encode/decode: no FFI, no sockets; tested byte for byte without root. */
export * from './addr.ts';
export { Attrs } from './attrs.ts';
export * from './constants.ts';
export * from './ip.ts';
export * from './link.ts';
export * from './message.ts';
export * from './neigh.ts';
export * from './nft.ts';
export * from './route.ts';
export { align4, MessageWriter } from './writer.ts';

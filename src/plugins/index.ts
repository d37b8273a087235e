/** Docker plugins: discovery, the HTTP client (unix socket, TCP, TLS), activation, reply checking. */
export {
  backoffMs,
  DEFAULT_PLUGIN_TIMEOUTS,
  type ErrorField,
  MAX_REPLY_BYTES,
  PLUGIN_MIME,
  PluginClient,
  type PluginTimeouts,
} from './client.ts';
export {
  addressUrl,
  DEFAULT_PLUGIN_DIRS,
  findPlugin,
  isDiscoverableName,
  type PluginAddress,
  type PluginDirs,
  type PluginTls,
} from './discovery.ts';
export {
  PluginCallError,
  PluginNotImplementedError,
  PluginReplyError,
  PluginSpecError,
  PluginUnavailableError,
} from './errors.ts';
export { type ActivePlugin, PluginRegistry, type PluginRegistryOptions } from './registry.ts';
export { type Family, isValidIfName, parseCidr, parseIp, Reply } from './reply.ts';

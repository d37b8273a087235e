/**
 * Generated name-resolution files for containers: /etc/hosts and /etc/resolv.conf, with Docker's
 * content and rules; the embedded resolver (127.0.0.11) that answers names per network.
 */
export {
  addHostsFileRecords,
  DIR_MODE,
  FILE_MODE,
  HOST_RESOLV_CONF,
  hostResolvConfPath,
  readHostResolvConf,
  removeContainerFilesDir,
  removeDirIfEmpty,
  removeFile,
  removeHostsFileRecords,
  rewriteFileInPlace,
  SYSTEMD_RESOLV_CONF,
  withFileLock,
  writeFileAtomic,
  writeHostsFile,
  writeResolvConfFile,
} from './files.ts';
export {
  addHostsRecords,
  buildHosts,
  containerHostNames,
  containerHostsRecords,
  DEFAULT_HOSTS_IPV4,
  DEFAULT_HOSTS_IPV6,
  type ExtraHost,
  formatHostsRecord,
  type HostsOptions,
  type HostsRecord,
  MAX_EXTRA_HOSTS,
  MAX_NAMES_PER_RECORD,
  normalizeHostsRecord,
  parseExtraHost,
  parseHosts,
  removeHostsRecords,
} from './hosts.ts';
export {
  buildResolvConf,
  DEFAULT_NAMESERVERS_IPV4,
  DEFAULT_NAMESERVERS_IPV6,
  DEFAULT_RESOLV_CONF_HEADER,
  MAX_DNS_OPTION_LENGTH,
  MAX_DNS_OPTIONS,
  MAX_DNS_SEARCH,
  MAX_DNS_SERVERS,
  MAX_SEARCH_DOMAIN_LENGTH,
  parseResolvConf,
  type ResolvConf,
  type ResolvConfOptions,
  type ResolvConfResult,
  validateDnsOption,
  validateDnsSearch,
} from './resolv-conf.ts';
export {
  addressOfReverseName,
  answerQuery,
  type Outcome,
  type QueryScope,
  RCODE,
  RESPONSE_TTL,
} from './resolver/answer.ts';
export { Forwarder, type ForwarderOptions, parseUpstream, type Upstream } from './resolver/forwarder.ts';
export { SandboxListener } from './resolver/listener.ts';
export { type NameHit, type NameRecord, NameTable } from './resolver/names.ts';
export {
  Resolver,
  type ResolverEndpoint,
  type ResolverOptions,
  type ResolverStats,
} from './resolver/resolver.ts';
export {
  hostnameViolation,
  MAX_DNS_NAME_LENGTH,
  MAX_UTS_NAME_LENGTH,
  type ParsedIp,
  parseIp,
  requireHostname,
  requireIp,
} from './validate.ts';

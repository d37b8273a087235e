export { DnetError, type ErrorKind } from './base.ts';
export {
  ActiveContainerError,
  ActiveEndpointsError,
  AmbiguousNetworkError,
  ControllerClosedError,
  EndpointExistsError,
  InvalidContainerIDError,
  InvalidEndpointNameError,
  InvalidJoinError,
  InvalidNetworkNameError,
  InvalidOptionError,
  NetworkNameError,
  NetworkTypeError,
  NoContainerError,
  PredefinedNetworkError,
  type PredefinedNetworkOperation,
  RestoreConflictError,
  SandboxExistsError,
  SandboxModeError,
  TeardownError,
  UnknownEndpointError,
  UnknownIpamDriverError,
  UnknownNetworkError,
  UnknownSandboxError,
} from './cnm.ts';
export {
  ConfigNetworkInUseError,
  ConfigNetworkOptionsError,
  type ConfigNetworkRule,
  ConfigOnlyNetworkError,
  UnknownConfigNetworkError,
} from './config-only.ts';
export { errnoName, errnoValue } from './errno.ts';
export { type ErrorBody, errorBody, errorResponse, HTTP_STATUS_BY_KIND, httpStatus } from './http.ts';
export {
  KernelModuleMissingError,
  KernelWorkerError,
  LibraryLoadError,
  NetlinkDecodeError,
  NetlinkError,
  NftablesError,
  SyscallError,
} from './os.ts';
export {
  isFullId,
  MAX_CONTAINER_ID_LENGTH,
  MAX_ENDPOINT_NAME_LENGTH,
  MAX_NETWORK_NAME_LENGTH,
  nameRuleViolation,
  newId,
  shortId,
  validateContainerId,
  validateEndpointName,
  validateNetworkName,
} from './validate.ts';

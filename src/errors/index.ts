export { DnetError, type ErrorKind } from './base.ts';
export {
  ActiveEndpointsError,
  AmbiguousNetworkError,
  InvalidNetworkNameError,
  InvalidOptionError,
  NetworkNameError,
  NetworkTypeError,
  PredefinedNetworkError,
  type PredefinedNetworkOperation,
  UnknownIpamDriverError,
  UnknownNetworkError,
} from './cnm.ts';
export {
  ConfigNetworkInUseError,
  ConfigNetworkOptionsError,
  type ConfigNetworkRule,
  ConfigOnlyNetworkError,
  UnknownConfigNetworkError,
} from './config-only.ts';
export {
  ActiveContainerError,
  EndpointExistsError,
  InvalidContainerIDError,
  InvalidEndpointNameError,
  InvalidJoinError,
  NoContainerError,
  SandboxExistsError,
  SandboxModeError,
  UnknownEndpointError,
  UnknownSandboxError,
} from './endpoint.ts';
export { errnoName, errnoValue } from './errno.ts';
export { type ErrorBody, errorBody, errorResponse, HTTP_STATUS_BY_KIND, httpStatus } from './http.ts';
export { ControllerClosedError, RestoreConflictError, TeardownError } from './lifecycle.ts';
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

export {
  CairnClient,
  type CairnClientOptions,
  type MetricPoint,
  type TransferProgress,
  type DirectoryUploadProgress,
  listLocalFiles,
  toArtifactPath,
} from './cairn-client';
export { CairnError, REASON_METADATA_KEY, statusName } from './cairn-error';
export { parseGatewayAddress, type GatewayTarget } from './channel';
export { authorizationHeader, type CairnCredentials } from './credentials';
export type { CallOptions, DeepPartial, UnaryApi } from './unary-api';

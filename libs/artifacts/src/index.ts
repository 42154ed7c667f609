export * from './artifact-store.port';
export {
  confineArtifactPath,
  confineArtifactScope,
  assertSafeLocation,
  MAX_ARTIFACT_PATH_LENGTH,
} from './artifact-path';
export {
  artifactStoreSettings,
  artifactStoreConfig,
  describeArtifactStoreSettings,
  ARTIFACT_STORE_KINDS,
  type ArtifactStoreConfig,
  type ArtifactStoreKind,
  type ArtifactStoreSettings,
  type SettingDescription,
} from './artifact-store.settings';
export { createArtifactStore } from './artifact-store.factory';
export { FilesystemArtifactStore } from './fs/filesystem-artifact-store';
export {
  S3ArtifactStore,
  type S3ArtifactStoreOptions,
  S3_PART_SIZE,
  S3_QUEUE_SIZE,
} from './s3/s3-artifact-store';

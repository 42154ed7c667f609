import type { ArtifactStore } from './artifact-store.port';
import { artifactStoreConfig, type ArtifactStoreSettings } from './artifact-store.settings';
import { FilesystemArtifactStore } from './fs/filesystem-artifact-store';
import { S3ArtifactStore } from './s3/s3-artifact-store';

/**
 * The configured artifact store. S3 credentials come from the AWS default chain
 * (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, web identity, instance metadata).
 */
export function createArtifactStore(settings: ArtifactStoreSettings, cwd = process.cwd()): ArtifactStore {
  const config = artifactStoreConfig(settings, cwd);
  switch (config.kind) {
    case 'file':
      return new FilesystemArtifactStore(config.root);
    case 's3':
      return new S3ArtifactStore(config);
    default: {
      const unreachable: never = config;
      throw new Error(`unhandled artifact store ${JSON.stringify(unreachable)}`);
    }
  }
}

import { ConfigError, loadConfig, serviceSettings } from '@cairn/config';
import { createArtifactStore } from './artifact-store.factory';
import {
  artifactStoreConfig,
  artifactStoreSettings,
  describeArtifactStoreSettings,
} from './artifact-store.settings';
import { FilesystemArtifactStore } from './fs/filesystem-artifact-store';
import { S3ArtifactStore } from './s3/s3-artifact-store';

const load = (env: Record<string, string>) => loadConfig('tracking', artifactStoreSettings, env);

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('artifact store settings', () => {
  it('defaults to a file store under <cwd>/.cairn/artifacts, like the launcher', () => {
    expect(artifactStoreConfig(load({}), '/srv/cairn')).toEqual({
      kind: 'file',
      root: '/srv/cairn/.cairn/artifacts',
    });
  });

  it('puts the default root under CAIRN_HOME, and takes CAIRN_ARTIFACT_ROOT as a path or a file URI', () => {
    expect(artifactStoreConfig(load({ CAIRN_HOME: '/var/lib/cairn' }), '/srv')).toEqual({
      kind: 'file',
      root: '/var/lib/cairn/artifacts',
    });
    expect(artifactStoreConfig(load({ CAIRN_HOME: 'home' }), '/srv')).toEqual({
      kind: 'file',
      root: '/srv/home/artifacts',
    });
    expect(artifactStoreConfig(load({ CAIRN_ARTIFACT_ROOT: '/data/mlruns/' }))).toEqual({
      kind: 'file',
      root: '/data/mlruns',
    });
    expect(artifactStoreConfig(load({ CAIRN_ARTIFACT_ROOT: 'file:///data/ml%20runs' }))).toEqual({
      kind: 'file',
      root: '/data/ml runs',
    });
  });

  it('refuses a relative or non-file artifact root, naming the setting', () => {
    for (const root of ['relative/dir', 's3://bucket/x', 'http://example.com/x']) {
      const err = configError(() => load({ CAIRN_ARTIFACT_ROOT: root }));
      expect(err.issues).toEqual([
        { setting: 'CAIRN_ARTIFACT_ROOT', reason: 'must be an absolute path or a file:// URI', value: root },
      ]);
    }
  });

  it('builds the S3 configuration, normalizing the prefix', () => {
    const settings = load({
      CAIRN_ARTIFACT_STORE: 's3',
      CAIRN_S3_BUCKET: 'ml-artifacts',
      CAIRN_S3_PREFIX: '/cairn//prod/',
      CAIRN_S3_ENDPOINT: 'http://minio:9000',
      CAIRN_S3_REGION: 'eu-west-1',
      CAIRN_S3_FORCE_PATH_STYLE: 'true',
    });
    expect(artifactStoreConfig(settings)).toEqual({
      kind: 's3',
      bucket: 'ml-artifacts',
      prefix: 'cairn/prod',
      endpoint: 'http://minio:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
    });
  });

  it('requires a bucket for the s3 store, naming CAIRN_S3_BUCKET', () => {
    const err = configError(() => load({ CAIRN_ARTIFACT_STORE: 's3' }));
    expect(err.issues).toEqual([
      { setting: 'CAIRN_S3_BUCKET', reason: 'is required when CAIRN_ARTIFACT_STORE=s3' },
    ]);
    expect(err.message).toContain('CAIRN_S3_BUCKET: is required when CAIRN_ARTIFACT_STORE=s3');
  });

  it('still requires the bucket when merged into a service schema (which drops refinements)', () => {
    const merged = serviceSettings('tracking').extend(artifactStoreSettings.shape);
    const raw = loadConfig('tracking', merged, {
      DATABASE_URL: 'postgres://u:p@db/cairn',
      CAIRN_ARTIFACT_STORE: 's3',
    });
    expect(raw.CAIRN_ARTIFACT_STORE).toBe('s3');
    const err = configError(() => createArtifactStore(raw));
    expect(err.issues.map((i) => i.setting)).toEqual(['CAIRN_S3_BUCKET']);
  });

  it('names every bad S3 setting', () => {
    const err = configError(() =>
      load({
        CAIRN_ARTIFACT_STORE: 'gcs',
        CAIRN_S3_BUCKET: 'Bad_Bucket',
        CAIRN_S3_PREFIX: '../escape',
        CAIRN_S3_ENDPOINT: 'ftp://minio',
        CAIRN_S3_REGION: 'EU WEST',
        CAIRN_S3_FORCE_PATH_STYLE: 'yes',
      }),
    );
    expect(err.issues.map((i) => i.setting).sort()).toEqual([
      'CAIRN_ARTIFACT_STORE',
      'CAIRN_S3_BUCKET',
      'CAIRN_S3_ENDPOINT',
      'CAIRN_S3_FORCE_PATH_STYLE',
      'CAIRN_S3_PREFIX',
      'CAIRN_S3_REGION',
    ]);
    expect(err.message).toContain('CAIRN_ARTIFACT_STORE: must be one of file, s3 (got "gcs")');
  });

  it('documents every variable of the schema', () => {
    expect(
      describeArtifactStoreSettings()
        .map((d) => d.setting)
        .sort(),
    ).toEqual(Object.keys(artifactStoreSettings.shape).sort());
  });
});

describe('createArtifactStore', () => {
  it('builds the filesystem store by default', async () => {
    const store = createArtifactStore(load({ CAIRN_ARTIFACT_ROOT: '/data/mlruns' }));
    expect(store).toBeInstanceOf(FilesystemArtifactStore);
    expect(store.rootUri).toBe('file:///data/mlruns');
    expect(store.uriFor('0')).toBe('file:///data/mlruns/0');
    await store.close();
  });

  it('builds the S3 store', async () => {
    const store = createArtifactStore(
      load({ CAIRN_ARTIFACT_STORE: 's3', CAIRN_S3_BUCKET: 'ml-artifacts', CAIRN_S3_PREFIX: 'cairn' }),
    );
    expect(store).toBeInstanceOf(S3ArtifactStore);
    expect(store.rootUri).toBe('s3://ml-artifacts/cairn');
    expect(store.uriFor('3/abc/artifacts')).toBe('s3://ml-artifacts/cairn/3/abc/artifacts');
    await store.close();
  });
});

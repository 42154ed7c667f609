import path from 'node:path';
import { z } from 'zod';
import { booleanFlag, ConfigError } from '@cairn/config';
import { fileRootPath } from './fs/filesystem-artifact-store';
import { normalizeKeyPrefix, S3_BUCKET_NAME } from './s3/s3-artifact-store';

export const ARTIFACT_STORE_KINDS = ['file', 's3'] as const;
export type ArtifactStoreKind = (typeof ARTIFACT_STORE_KINDS)[number];

function isFileRoot(value: string): boolean {
  try {
    fileRootPath(value);
    return true;
  } catch {
    return false;
  }
}

function isKeyPrefix(value: string): boolean {
  try {
    normalizeKeyPrefix(value);
    return true;
  } catch {
    return false;
  }
}

const S3_REQUIRES_BUCKET = {
  setting: 'CAIRN_S3_BUCKET',
  reason: 'is required when CAIRN_ARTIFACT_STORE=s3',
} as const;

/**
 * The artifact store settings, keyed by environment variable, for a service's
 * `extraSettings`. The bucket check across settings is a refinement here and is repeated by
 * `artifactStoreConfig`, because merging this object's shape into another drops refinements.
 */
export const artifactStoreSettings = z
  .object({
    CAIRN_ARTIFACT_STORE: z
      .enum(ARTIFACT_STORE_KINDS, { message: 'must be one of file, s3' })
      .default('file'),
    /** file store: absolute path or file:// URI; default <CAIRN_HOME>/artifacts. */
    CAIRN_ARTIFACT_ROOT: z
      .string()
      .refine(isFileRoot, { message: 'must be an absolute path or a file:// URI' })
      .optional(),
    /** The platform's home directory (the launcher sets it); default <cwd>/.cairn. */
    CAIRN_HOME: z.string().min(1).optional(),
    CAIRN_S3_BUCKET: z
      .string()
      .regex(S3_BUCKET_NAME, 'must be an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)')
      .optional(),
    CAIRN_S3_PREFIX: z
      .string()
      .refine(isKeyPrefix, {
        message: "must be a relative key prefix without '..', '?', '#', ';', backslashes or a scheme",
      })
      .optional(),
    CAIRN_S3_ENDPOINT: z
      .url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' })
      .optional(),
    CAIRN_S3_REGION: z
      .string()
      .regex(/^[a-z0-9-]+$/, 'must be a region name such as us-east-1')
      .optional(),
    CAIRN_S3_FORCE_PATH_STYLE: booleanFlag(false),
  })
  .superRefine((s, ctx) => {
    if (s.CAIRN_ARTIFACT_STORE === 's3' && !s.CAIRN_S3_BUCKET) {
      ctx.addIssue({
        code: 'custom',
        path: [S3_REQUIRES_BUCKET.setting],
        message: S3_REQUIRES_BUCKET.reason,
      });
    }
  });

export type ArtifactStoreSettings = z.infer<typeof artifactStoreSettings>;

/** The resolved artifact store configuration the adapters are built from. */
export type ArtifactStoreConfig =
  | { kind: 'file'; root: string }
  | {
      kind: 's3';
      bucket: string;
      prefix: string;
      region?: string;
      endpoint?: string;
      forcePathStyle: boolean;
    };

/** Resolves parsed settings; throws `ConfigError` naming the setting at fault. */
export function artifactStoreConfig(
  settings: ArtifactStoreSettings,
  cwd = process.cwd(),
): ArtifactStoreConfig {
  const kind: ArtifactStoreKind = settings.CAIRN_ARTIFACT_STORE;
  switch (kind) {
    case 'file': {
      // The same default as the launcher's: <CAIRN_HOME or cwd/.cairn>/artifacts.
      const home = path.resolve(cwd, settings.CAIRN_HOME ?? '.cairn');
      const root = settings.CAIRN_ARTIFACT_ROOT
        ? fileRootPath(settings.CAIRN_ARTIFACT_ROOT)
        : path.join(home, 'artifacts');
      return { kind: 'file', root };
    }
    case 's3': {
      if (!settings.CAIRN_S3_BUCKET) throw new ConfigError('artifact store', [{ ...S3_REQUIRES_BUCKET }]);
      return {
        kind: 's3',
        bucket: settings.CAIRN_S3_BUCKET,
        prefix: normalizeKeyPrefix(settings.CAIRN_S3_PREFIX ?? ''),
        region: settings.CAIRN_S3_REGION,
        endpoint: settings.CAIRN_S3_ENDPOINT,
        forcePathStyle: settings.CAIRN_S3_FORCE_PATH_STYLE,
      };
    }
    default: {
      const unreachable: never = kind;
      throw new Error(`unhandled artifact store ${String(unreachable)}`);
    }
  }
}

/** One row of the settings documentation (also in the library README). */
export interface SettingDescription {
  setting: string;
  default: string;
  description: string;
}

/** The artifact store's environment variables, for READMEs and `--help` output. */
export function describeArtifactStoreSettings(): SettingDescription[] {
  return [
    { setting: 'CAIRN_ARTIFACT_STORE', default: 'file', description: 'Where artifacts live: file or s3.' },
    {
      setting: 'CAIRN_ARTIFACT_ROOT',
      default: '<CAIRN_HOME>/artifacts',
      description: 'file store: the root directory, an absolute path or a file:// URI.',
    },
    {
      setting: 'CAIRN_HOME',
      default: '<cwd>/.cairn',
      description: 'The platform home; only used for the default CAIRN_ARTIFACT_ROOT.',
    },
    { setting: 'CAIRN_S3_BUCKET', default: '(required for s3)', description: 's3 store: the bucket.' },
    { setting: 'CAIRN_S3_PREFIX', default: '(none)', description: 's3 store: key prefix of the store root.' },
    {
      setting: 'CAIRN_S3_ENDPOINT',
      default: '(AWS)',
      description: 's3 store: endpoint of an S3-compatible server (MinIO, Ceph, ...).',
    },
    {
      setting: 'CAIRN_S3_REGION',
      default: 'AWS default chain; us-east-1 with an endpoint',
      description: 's3 store: the region requests are signed for.',
    },
    {
      setting: 'CAIRN_S3_FORCE_PATH_STYLE',
      default: 'false',
      description: 's3 store: address buckets as http://host/bucket (most S3-compatible servers need it).',
    },
  ];
}

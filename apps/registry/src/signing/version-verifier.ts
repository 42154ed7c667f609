import type { EntityManager } from 'typeorm';
import type { ArtifactStore } from '@cairn/artifacts';
import type { ModelVersionRecord } from '../models/models.repository';
import type { ArtifactManifest, ManifestFile } from './artifact-manifest';
import type { ArtifactVerification, SigningKeyring } from './signing-keyring';

/** Why a version could not be verified at all, before any artifact is read. */
export type UnverifiableReason = 'UNSIGNED' | 'NOT_READY';

export type VersionVerification =
  ArtifactVerification | { ok: false; reason: UnverifiableReason; message: string };

/**
 * Verifies a model version as registered: its recorded signature over its recorded manifest
 * digest, then the artifact in the store against that manifest (naming the first changed file).
 * One implementation for SigningService.VerifyModelVersion and the valid_signature gate.
 */
export class VersionVerifier {
  constructor(
    private readonly schema: string,
    private readonly keyring: SigningKeyring,
    private readonly store: ArtifactStore,
  ) {}

  /** The manifest recorded at registration (undefined until the version is READY). */
  async recordedManifest(
    m: EntityManager,
    v: Pick<ModelVersionRecord, 'modelId' | 'version' | 'artifactDigest'>,
  ): Promise<ArtifactManifest | undefined> {
    if (!v.artifactDigest) return undefined;
    const [row] = await m.query<Array<{ manifest: ManifestFile[] | null }>>(
      `SELECT manifest FROM "${this.schema}".model_versions WHERE model_id = $1 AND version = $2`,
      [v.modelId, v.version],
    );
    return row?.manifest ? { files: row.manifest, digest: v.artifactDigest } : undefined;
  }

  async verify(m: EntityManager, v: ModelVersionRecord, signal?: AbortSignal): Promise<VersionVerification> {
    if (v.status !== 'READY' || !v.artifactDigest) {
      return {
        ok: false,
        reason: 'NOT_READY',
        message: `Model version ${v.name}/${v.version} is ${v.status}; it has no manifest to verify yet.`,
      };
    }
    if (!v.signature) {
      return {
        ok: false,
        reason: 'UNSIGNED',
        message: `Model version ${v.name}/${v.version} has no signature (the registry holds no signing key, and none was given).`,
      };
    }
    const recorded = (await this.recordedManifest(m, v)) ?? v.artifactDigest;
    return this.keyring.verifyArtifact(this.store, v.storageScope, v.storagePath, recorded, v.signature, {
      signal,
    });
  }
}

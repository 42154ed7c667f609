import type { Transaction } from '@cairn/messaging';
import { AppError } from '@cairn/rpc';
import type { ModelsRepository, ModelVersionRecord } from '../models/models.repository';
import type { AuditTrail } from '../persistence/audit-trail.port';
import { parseVersion, validateModelName } from '../validation/registry-validation';
import { type ArtifactSignature, signatureRefused, type SigningKeyring } from './signing-keyring';

export interface ModelSignaturesDeps {
  repository: ModelsRepository;
  schema: string;
  audit: AuditTrail;
  unitOfWork: <T>(work: (tx: Transaction) => Promise<T>) => Promise<T>;
  keyring: SigningKeyring;
  now?: () => number;
}

export function versionNotReady(v: Pick<ModelVersionRecord, 'name' | 'version' | 'status'>): AppError {
  return new AppError(
    'failed_precondition',
    'MODEL_VERSION_NOT_READY',
    `Model version ${v.name}/${v.version} is ${v.status}; its manifest digest is not known yet.`,
    { name: v.name, version: String(v.version) },
  );
}

/**
 * Signatures attached after registration: a holder of an accepted key signs a READY version's
 * manifest digest (as recorded, never recomputed here) and the registry keeps the signature if
 * it verifies. Replacing a signature is how versions are re-signed when keys rotate; each
 * change is audited with the key ids before and after.
 */
export class ModelSignatures {
  private readonly now: () => number;

  constructor(private readonly d: ModelSignaturesDeps) {
    this.now = d.now ?? Date.now;
  }

  private get s(): string {
    return `"${this.d.schema}"`;
  }

  async setSignature(
    actor: string,
    name: string,
    version: string,
    signature: ArtifactSignature | undefined,
  ): Promise<ModelVersionRecord> {
    validateModelName(name);
    const n = parseVersion(version);
    if (!signature) {
      throw new AppError(
        'invalid_argument',
        'MISSING_PARAMETER',
        "Missing value for required parameter 'signature'.",
      );
    }
    // Shape and key first: a malformed signature is refused without touching the database.
    const shape = this.d.keyring.checkSignature(signature);
    if (!shape.ok) throw signatureRefused(shape, signature.keyId);
    return this.d.unitOfWork(async (tx) => {
      // The model's row lock serializes this with registration turning the version READY.
      const model = await this.d.repository.getModel(tx.manager, name, true);
      const before = await this.d.repository.getVersion(tx.manager, model, n);
      if (before.status !== 'READY' || !before.artifactDigest) throw versionNotReady(before);
      const check = this.d.keyring.verify(before.artifactDigest, signature);
      if (!check.ok) throw signatureRefused(check, signature.keyId);
      const now = this.now();
      await tx.manager.query(
        `UPDATE ${this.s}.model_versions
            SET signature_algorithm = $3, signature_key_id = $4, signature_value = $5, last_updated_time = $6
          WHERE model_id = $1 AND version = $2`,
        [model.modelId, n, signature.algorithm, signature.keyId, signature.value, now],
      );
      await this.d.audit.append(tx.manager, {
        actor,
        action: 'model_version.signature.set',
        objectType: 'model_version',
        objectId: `${name}/${n}`,
        model: name,
        before: before.signature
          ? { algorithm: before.signature.algorithm, keyId: before.signature.keyId }
          : null,
        after: {
          algorithm: signature.algorithm,
          keyId: signature.keyId,
          artifactDigest: before.artifactDigest,
        },
        occurredAt: now,
      });
      return this.d.repository.getVersion(tx.manager, model, n);
    });
  }
}

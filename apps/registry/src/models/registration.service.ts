import type { Logger } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import type { ArtifactStore } from '@cairn/artifacts';
import { createEvent } from '@cairn/contracts';
import type { Transaction } from '@cairn/messaging';
import { AppError } from '@cairn/rpc';
import { outboxRecordOf } from '@cairn/service-runtime';
import type { AuditTrail } from '../persistence/audit-trail.port';
import { computeManifest } from '../signing/artifact-manifest';
import { resolveModelSource } from '../signing/model-source';
import { type ArtifactSignature, signatureRefused, type SigningKeyring } from '../signing/signing-keyring';
import {
  validateDescription,
  validateModelName,
  validateRunId,
  validateRunLink,
  validateTag,
} from '../validation/registry-validation';
import type { ModelsRepository, ModelVersionRecord, TagRecord } from './models.repository';

export interface RegistrationDeps {
  ds: DataSource;
  schema: string;
  repository: ModelsRepository;
  audit: AuditTrail;
  unitOfWork: <T>(work: (tx: Transaction) => Promise<T>) => Promise<T>;
  store: ArtifactStore;
  keyring: SigningKeyring;
  /** The artifact URI of a run, from the run projection. */
  runArtifactUri: (m: EntityManager, runId: string) => Promise<string | undefined>;
  logger: Logger;
  now?: () => number;
  /** Attempts before a version whose manifest cannot be computed is FAILED_REGISTRATION. */
  maxAttempts?: number;
  /** How often pending versions left by a crash or another replica are picked up. */
  sweepIntervalMs?: number;
}

export interface CreateVersionInput {
  name: string;
  source: string;
  runId: string;
  tags: TagRecord[];
  runLink: string;
  description: string;
  signature?: ArtifactSignature;
}

/**
 * Model version registration. A version is written PENDING_REGISTRATION at once (the number
 * is taken under the model's row lock, so none is ever reused), then its artifact manifest is
 * computed by streaming every file through SHA-256, outside any transaction, and the version
 * turns READY with the digest, its signature (the client's, verified, or the registry's own)
 * and the ModelVersionCreated event; or FAILED_REGISTRATION with the reason. The hashing can
 * take a while for large models, which is why MLflow clients poll for READY
 * (`await_registration_for`). A sweep picks up versions still pending after a crash; a second
 * replica finishing the same version finds it no longer pending and changes nothing.
 */
export class RegistrationService {
  private readonly now: () => number;
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly d: RegistrationDeps) {
    this.now = d.now ?? Date.now;
  }

  private get s(): string {
    return `"${this.d.schema}"`;
  }

  start(): void {
    const every = this.d.sweepIntervalMs ?? 30_000;
    const tick = () => {
      if (this.stopped) return;
      void this.sweep().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, every);
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.allSettled([...this.inFlight.values()]);
  }

  async create(actor: string, input: CreateVersionInput): Promise<ModelVersionRecord> {
    validateModelName(input.name);
    if (input.source === '') {
      throw new AppError(
        'invalid_argument',
        'MISSING_PARAMETER',
        "Missing value for required parameter 'source'.",
      );
    }
    validateRunId(input.runId);
    for (const t of input.tags) validateTag(t.key, t.value);
    validateRunLink(input.runLink);
    validateDescription(input.description);
    if (input.signature) {
      // What can be checked before the digest exists is checked now, not after the hashing.
      const check = this.d.keyring.checkSignature(input.signature);
      if (!check.ok) throw signatureRefused(check, input.signature.keyId);
    }
    const resolved = await resolveModelSource(input.source, {
      store: this.d.store,
      runArtifactUri: (runId) => this.d.runArtifactUri(this.d.ds.manager, runId),
    });
    const now = this.now();
    const created = await this.d.unitOfWork(async (tx) => {
      const model = await this.d.repository.getModel(tx.manager, input.name, true);
      const [{ version }] = await tx.manager.query<Array<{ version: number }>>(
        // TypeORM returns [rows, count] for a bare UPDATE ... RETURNING; through a CTE it is rows.
        `WITH u AS (UPDATE ${this.s}.registered_models SET last_version = last_version + 1, last_updated_time = $2
          WHERE model_id = $1 RETURNING last_version) SELECT last_version AS version FROM u`,
        [model.modelId, now],
      );
      await tx.manager.query(
        `INSERT INTO ${this.s}.model_versions (model_id, version, user_id, creation_time, last_updated_time, description,
                                               source, run_id, run_link, status, storage_uri, storage_scope, storage_path,
                                               signature_algorithm, signature_key_id, signature_value)
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, 'PENDING_REGISTRATION', $9, $10, $11, $12, $13, $14)`,
        [
          model.modelId,
          version,
          actor,
          now,
          input.description,
          input.source,
          input.runId || null,
          input.runLink,
          resolved.uri,
          resolved.scope,
          resolved.path,
          input.signature?.algorithm ?? null,
          input.signature?.keyId ?? null,
          input.signature?.value ?? null,
        ],
      );
      if (input.tags.length > 0) {
        await tx.manager.query(
          `INSERT INTO ${this.s}.model_version_tags (model_id, version, key, value)
           SELECT $1, $2, k, v FROM unnest($3::text[], $4::text[]) AS t(k, v)
           ON CONFLICT (model_id, version, key) DO UPDATE SET value = EXCLUDED.value`,
          [model.modelId, version, input.tags.map((t) => t.key), input.tags.map((t) => t.value)],
        );
      }
      await this.d.audit.append(tx.manager, {
        actor,
        action: 'model_version.create',
        objectType: 'model_version',
        objectId: `${input.name}/${version}`,
        model: input.name,
        after: {
          source: input.source,
          storageUri: resolved.uri,
          runId: input.runId || null,
          status: 'PENDING_REGISTRATION',
        },
        occurredAt: now,
      });
      return this.d.repository.getVersion(tx.manager, model, version);
    });
    this.schedule(created.modelId, created.version);
    return created;
  }

  /** Registers pending versions (after a crash, or left by a replica that stopped). */
  async sweep(): Promise<void> {
    try {
      const pending = await this.d.ds.query<Array<{ model_id: string; version: number }>>(
        `SELECT model_id::text, version FROM ${this.s}.model_versions
          WHERE status = 'PENDING_REGISTRATION' ORDER BY creation_time LIMIT 100`,
      );
      for (const p of pending) this.schedule(p.model_id, p.version);
      await Promise.allSettled([...this.inFlight.values()]);
    } catch (err) {
      this.d.logger.error({ err }, 'model version registration sweep failed');
    }
  }

  /** Resolves once the version's registration (if one is running here) is over. */
  async settled(modelId: string, version: number): Promise<void> {
    await this.inFlight.get(`${modelId}/${version}`);
  }

  private schedule(modelId: string, version: number): void {
    const key = `${modelId}/${version}`;
    if (this.inFlight.has(key) || this.stopped) return;
    const job = this.register(modelId, version)
      .catch((err: unknown) =>
        this.d.logger.error({ err, modelId, version }, 'model version registration failed'),
      )
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, job);
  }

  private async register(modelId: string, version: number): Promise<void> {
    const [row] = await this.d.ds.query<
      Array<{ storage_scope: string; storage_path: string; status: string }>
    >(
      `SELECT storage_scope, storage_path, status FROM ${this.s}.model_versions WHERE model_id = $1 AND version = $2`,
      [modelId, version],
    );
    if (row?.status !== 'PENDING_REGISTRATION') return;
    let manifest: Awaited<ReturnType<typeof computeManifest>> | undefined;
    let failure: string | undefined;
    let permanent = false;
    try {
      manifest = await computeManifest(this.d.store, row.storage_scope, row.storage_path);
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
      // Bad input (an empty or oversized model, a vanished location) will not fix itself.
      permanent = err instanceof AppError && err.kind !== 'unavailable';
    }
    await this.d.unitOfWork(async (tx) => {
      const [locked] = await tx.manager.query<Array<{ name: string }>>(
        `SELECT name FROM ${this.s}.registered_models WHERE model_id = $1 FOR UPDATE`,
        [modelId],
      );
      if (!locked) return; // the model was deleted meanwhile
      const model = await this.d.repository.getModel(tx.manager, locked.name);
      const v = await this.d.repository.findVersion(tx.manager, modelId, version);
      if (v?.status !== 'PENDING_REGISTRATION') return; // done by another replica, or deleted
      const now = this.now();
      if (manifest) {
        let signature = v.signature;
        if (signature) {
          const check = this.d.keyring.verify(manifest.digest, signature);
          if (!check.ok) {
            return this.fail(
              tx,
              model.name,
              v,
              `The signature given for the model does not verify: ${check.message}`,
              now,
            );
          }
        } else if (this.d.keyring.signingKeyId !== undefined) {
          signature = { ...this.d.keyring.sign(manifest.digest), algorithm: 'Ed25519' };
        }
        await tx.manager.query(
          `UPDATE ${this.s}.model_versions
              SET status = 'READY', status_message = '', artifact_digest = $3, manifest = $4, last_updated_time = $5,
                  signature_algorithm = $6, signature_key_id = $7, signature_value = $8
            WHERE model_id = $1 AND version = $2`,
          [
            modelId,
            version,
            manifest.digest,
            JSON.stringify(manifest.files),
            now,
            signature?.algorithm ?? null,
            signature?.keyId ?? null,
            signature?.value ?? null,
          ],
        );
        await this.d.audit.append(tx.manager, {
          actor: 'system:registry',
          action: 'model_version.ready',
          objectType: 'model_version',
          objectId: `${model.name}/${version}`,
          model: model.name,
          before: { status: 'PENDING_REGISTRATION' },
          after: {
            status: 'READY',
            artifactDigest: manifest.digest,
            files: manifest.files.length,
            signedBy: signature?.keyId ?? null,
          },
          occurredAt: now,
        });
        tx.emit(
          outboxRecordOf(
            createEvent('cairn.registry.model-version.created.v1', {
              data: {
                model: model.name,
                version: String(version),
                ...(v.runId ? { runId: v.runId } : {}),
                artifactUri: v.storageUri,
                artifactDigest: manifest.digest,
                ...(signature
                  ? {
                      signature: {
                        algorithm: 'Ed25519' as const,
                        keyId: signature.keyId,
                        value: signature.value,
                      },
                    }
                  : {}),
                ...(v.description ? { description: v.description } : {}),
                tags: Object.fromEntries(v.tags.map((t) => [t.key, t.value])),
                createdBy: v.userId,
                createdAt: new Date(v.creationTime).toISOString(),
              },
            }),
            'registered_model',
          ),
        );
        return;
      }
      const [{ attempts }] = await tx.manager.query<Array<{ attempts: number }>>(
        `WITH u AS (UPDATE ${this.s}.model_versions SET registration_attempts = registration_attempts + 1
          WHERE model_id = $1 AND version = $2 RETURNING registration_attempts) SELECT registration_attempts AS attempts FROM u`,
        [modelId, version],
      );
      if (permanent || attempts >= (this.d.maxAttempts ?? 3)) {
        await this.fail(tx, model.name, v, failure ?? 'registration failed', now);
      }
    });
  }

  private async fail(
    tx: Transaction,
    name: string,
    v: ModelVersionRecord,
    message: string,
    now: number,
  ): Promise<void> {
    await tx.manager.query(
      `UPDATE ${this.s}.model_versions SET status = 'FAILED_REGISTRATION', status_message = $3, last_updated_time = $4
        WHERE model_id = $1 AND version = $2`,
      [v.modelId, v.version, message.slice(0, 5000), now],
    );
    await this.d.audit.append(tx.manager, {
      actor: 'system:registry',
      action: 'model_version.failed',
      objectType: 'model_version',
      objectId: `${name}/${v.version}`,
      model: name,
      before: { status: 'PENDING_REGISTRATION' },
      after: { status: 'FAILED_REGISTRATION' },
      reason: message.slice(0, 5000),
      occurredAt: now,
    });
  }
}

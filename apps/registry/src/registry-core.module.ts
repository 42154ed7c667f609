import {
  type BeforeApplicationShutdown,
  type DynamicModule,
  Global,
  Inject,
  Injectable,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { type ArtifactStore, type ArtifactStoreSettings, createArtifactStore } from '@cairn/artifacts';
import type { ServiceSettings } from '@cairn/config';
import { UnitOfWork } from '@cairn/messaging';
import { MessagingRuntime, ROOT_LOGGER, SERVICE_SETTINGS } from '@cairn/service-runtime';
import { ARTIFACT_STORE } from './artifacts/artifact-store.token';
import { AuditCheckpointer } from './audit/audit-checkpointer';
import { AuditLog } from './audit/audit-log';
import { type AuditSettings, createAuditSigner } from './audit/audit-signer';
import { GovernanceService } from './governance/governance.service';
import type { GovernanceSettings } from './governance/governance.settings';
import { policyOf } from './governance/policy.repository';
import { TransitionRequestsRepository } from './governance/transition-requests.repository';
import { GovernanceGrpc } from './grpc/governance.grpc';
import { AuditGrpc } from './grpc/audit.grpc';
import { ModelRegistryGrpc } from './grpc/model-registry.grpc';
import { SigningGrpc } from './grpc/signing.grpc';
import { ModelsRepository } from './models/models.repository';
import { ModelsService } from './models/models.service';
import { RegistrationService } from './models/registration.service';
import { AUDIT_TRAIL, type AuditTrail } from './persistence/audit-trail.port';
import { RunProjection } from './runs/run-projection';
import { ModelSearch } from './search/model-search';
import { ModelSignatures } from './signing/model-signatures.service';
import { createSigningKeyring, SigningKeyring, type SigningSettings } from './signing/signing-keyring';
import { VersionVerifier } from './signing/version-verifier';

/** What the core needs of the registry's settings (see registry.settings.ts). */
export type RegistryCoreSettings = ArtifactStoreSettings &
  AuditSettings &
  SigningSettings &
  GovernanceSettings;

const schemaOf = (s: ServiceSettings): string => s.databaseSchema;

/**
 * The registry's background work, started once the app is up and stopped before the database
 * pool closes: pending registrations finish (their audit entries included) before the last
 * audit checkpoint is taken; the artifact store's clients close after everything else.
 */
@Injectable()
class RegistryLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    @Inject(RegistrationService) private readonly registration: RegistrationService,
    @Inject(AuditCheckpointer) private readonly checkpointer: AuditCheckpointer,
    @Inject(GovernanceService) private readonly governance: GovernanceService,
    @Inject(ARTIFACT_STORE) private readonly store: ArtifactStore,
  ) {}

  onApplicationBootstrap(): void {
    this.checkpointer.start();
    this.registration.start();
    this.governance.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.governance.stop();
    await this.registration.stop();
    await this.checkpointer.stop();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

/**
 * The registry's domain, one instance each, for every feature of the service (global): the
 * artifact store, persistence, the run projection, the audit log, the signing keyring, models,
 * registration, signatures, search and governance, and the gRPC APIs over them
 * (ModelRegistryService, GovernanceService, SigningService, AuditService). Every token is the class itself, except the artifact store
 * (ARTIFACT_STORE) and the audit port (AUDIT_TRAIL, the same AuditLog). Writes go through the
 * runtime's UnitOfWork, so state, audit entries and outbox events commit together.
 *
 * In the blueprint's features: `RegistryCoreModule.forRoot(extra)`; needs the registry's
 * messaging (MessagingRuntime).
 */
@Global()
@Module({})
export class RegistryCoreModule {
  static forRoot(settings: RegistryCoreSettings): DynamicModule {
    return {
      module: RegistryCoreModule,
      providers: [
        { provide: ARTIFACT_STORE, useFactory: () => createArtifactStore(settings) },
        { provide: SigningKeyring, useFactory: () => createSigningKeyring(settings) },
        {
          provide: UnitOfWork,
          inject: [MessagingRuntime],
          useFactory: (messaging: MessagingRuntime) => messaging.unitOfWork(),
        },
        {
          provide: AuditLog,
          inject: [DataSource, SERVICE_SETTINGS],
          useFactory: (ds: DataSource, s: ServiceSettings) =>
            new AuditLog(ds, { schema: schemaOf(s), signer: createAuditSigner(settings) }),
        },
        { provide: AUDIT_TRAIL, useExisting: AuditLog },
        {
          provide: AuditCheckpointer,
          inject: [AuditLog, ROOT_LOGGER],
          useFactory: (log: AuditLog, logger: Logger) =>
            new AuditCheckpointer(
              log,
              settings.CAIRN_REGISTRY_AUDIT_CHECKPOINT_INTERVAL_MS,
              (err) => logger.error({ err }, 'audit checkpoint failed'),
              (cp) => logger.debug({ seq: cp.seq, keyId: cp.keyId }, 'audit checkpoint'),
            ),
        },
        {
          provide: ModelsRepository,
          inject: [SERVICE_SETTINGS],
          useFactory: (s: ServiceSettings) => new ModelsRepository(schemaOf(s)),
        },
        {
          provide: RunProjection,
          inject: [SERVICE_SETTINGS],
          useFactory: (s: ServiceSettings) => new RunProjection(schemaOf(s)),
        },
        {
          provide: ModelsService,
          inject: [SERVICE_SETTINGS, ModelsRepository, AUDIT_TRAIL, UnitOfWork, RunProjection],
          useFactory: (
            s: ServiceSettings,
            repository: ModelsRepository,
            audit: AuditTrail,
            uow: UnitOfWork,
            runs: RunProjection,
          ) =>
            new ModelsService({
              schema: schemaOf(s),
              repository,
              audit,
              unitOfWork: (work) => uow.run(work),
              policyOf: (m, modelId) => policyOf(m, schemaOf(s), modelId),
              runInputsOf: async (m, runId) => (await runs.find(m, runId))?.datasetInputs,
              runOf: (m, runId) => runs.find(m, runId),
            }),
        },
        {
          provide: RegistrationService,
          inject: [
            DataSource,
            SERVICE_SETTINGS,
            ModelsRepository,
            AUDIT_TRAIL,
            UnitOfWork,
            ARTIFACT_STORE,
            SigningKeyring,
            RunProjection,
            ROOT_LOGGER,
          ],
          useFactory: (
            ds: DataSource,
            s: ServiceSettings,
            repository: ModelsRepository,
            audit: AuditTrail,
            uow: UnitOfWork,
            store: ArtifactStore,
            keyring: SigningKeyring,
            runs: RunProjection,
            logger: Logger,
          ) =>
            new RegistrationService({
              ds,
              schema: schemaOf(s),
              repository,
              audit,
              unitOfWork: (work) => uow.run(work),
              store,
              keyring,
              runArtifactUri: async (m, runId) => (await runs.find(m, runId))?.artifactUri,
              logger: logger.child({ component: 'registration' }),
            }),
        },
        {
          provide: ModelSignatures,
          inject: [SERVICE_SETTINGS, ModelsRepository, AUDIT_TRAIL, UnitOfWork, SigningKeyring],
          useFactory: (
            s: ServiceSettings,
            repository: ModelsRepository,
            audit: AuditTrail,
            uow: UnitOfWork,
            keyring: SigningKeyring,
          ) =>
            new ModelSignatures({
              schema: schemaOf(s),
              repository,
              audit,
              unitOfWork: (work) => uow.run(work),
              keyring,
            }),
        },
        {
          provide: VersionVerifier,
          inject: [SERVICE_SETTINGS, SigningKeyring, ARTIFACT_STORE],
          useFactory: (s: ServiceSettings, keyring: SigningKeyring, store: ArtifactStore) =>
            new VersionVerifier(schemaOf(s), keyring, store),
        },
        {
          provide: ModelSearch,
          inject: [SERVICE_SETTINGS, ModelsRepository],
          useFactory: (s: ServiceSettings, repository: ModelsRepository) =>
            new ModelSearch(schemaOf(s), repository),
        },

        {
          provide: GovernanceService,
          inject: [
            DataSource,
            SERVICE_SETTINGS,
            ModelsRepository,
            ModelsService,
            AUDIT_TRAIL,
            RunProjection,
            VersionVerifier,
            UnitOfWork,
            ROOT_LOGGER,
          ],
          useFactory: (
            ds: DataSource,
            s: ServiceSettings,
            repository: ModelsRepository,
            models: ModelsService,
            audit: AuditTrail,
            runs: RunProjection,
            verifier: VersionVerifier,
            uow: UnitOfWork,
            logger: Logger,
          ) =>
            new GovernanceService({
              schema: schemaOf(s),
              repository,
              requests: new TransitionRequestsRepository(schemaOf(s)),
              models,
              audit,
              runs,
              verifier,
              unitOfWork: (work) => uow.run(work),
              reader: ds.manager,
              logger: logger.child({ component: 'governance' }),
              sweepIntervalMs: settings.CAIRN_REGISTRY_GOVERNANCE_SWEEP_INTERVAL_MS,
            }),
        },
        GovernanceGrpc,
        RegistryLifecycle,
        ModelRegistryGrpc,
        SigningGrpc,
        AuditGrpc,
      ],
      exports: [
        ARTIFACT_STORE,
        SigningKeyring,
        UnitOfWork,
        AuditLog,
        AUDIT_TRAIL,
        ModelsRepository,
        RunProjection,
        ModelsService,
        RegistrationService,
        ModelSignatures,
        VersionVerifier,
        ModelSearch,
        GovernanceService,
      ],
    };
  }
}

import {
  type BeforeApplicationShutdown,
  type DynamicModule,
  Global,
  Inject,
  Injectable,
  Module,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { ROOT_LOGGER } from '@cairn/service-runtime';
import { AuditCheckpointer } from './audit-checkpointer';
import { AuditLog } from './audit-log';
import { type AuditSettings, type AuditSigner, createAuditSigner } from './audit-signer';

export const AUDIT_SIGNER = Symbol('AUDIT_SIGNER');

/** Starts the checkpointer once the app is up; stops it (with a last checkpoint) before the pool closes. */
@Injectable()
class AuditCheckpointerLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(@Inject(AuditCheckpointer) private readonly checkpointer: AuditCheckpointer) {}

  onApplicationBootstrap(): void {
    this.checkpointer.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.checkpointer.stop();
  }
}

/**
 * The audit log for the registry's features (global: every feature that changes state appends
 * to it in its own transaction). Use in the blueprint's features:
 * `AuditModule.forRoot(settings.databaseSchema, extra)` with `auditSettings` in extraSettings.
 */
@Global()
@Module({})
export class AuditModule {
  static forRoot(schema: string, settings: AuditSettings): DynamicModule {
    return {
      module: AuditModule,
      providers: [
        { provide: AUDIT_SIGNER, useFactory: () => createAuditSigner(settings) },
        {
          provide: AuditLog,
          inject: [DataSource, AUDIT_SIGNER],
          useFactory: (ds: DataSource, signer: AuditSigner) => new AuditLog(ds, { schema, signer }),
        },
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
        AuditCheckpointerLifecycle,
      ],
      exports: [AuditLog, AUDIT_SIGNER],
    };
  }
}

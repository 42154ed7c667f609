import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ServiceSettings } from '@cairn/config';
import { systemV1 } from '@cairn/proto';
import { GrpcService } from '@cairn/rpc';
import { SERVICE_SETTINGS, SERVICE_STARTED_AT, SERVICE_VERSION } from './runtime.tokens';

/** cairn.system.v1.SystemService: identifies the process behind a port. */
@Injectable()
@GrpcService(systemV1.SystemServiceService)
export class SystemGrpc {
  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(SERVICE_SETTINGS) private readonly settings: ServiceSettings,
    @Inject(SERVICE_STARTED_AT) private readonly startedAt: number,
  ) {}

  async getInfo(): Promise<systemV1.GetInfoResponse> {
    const rows: { name: string }[] = await this.ds.query(
      `SELECT name FROM "${this.settings.databaseSchema}".schema_migrations ORDER BY id`,
    );
    return {
      service: this.settings.service,
      version: SERVICE_VERSION,
      databaseSchema: this.settings.databaseSchema,
      appliedMigrations: rows.map((r) => r.name),
      startedAtMs: this.startedAt,
      tracesExporter: this.settings.tracesExporter,
    };
  }
}

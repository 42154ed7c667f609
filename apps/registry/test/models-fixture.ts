import type { DataSource } from 'typeorm';
import { UnitOfWork } from '@cairn/messaging';
import { createDataSource, migrateUp } from '@cairn/persistence';
import { AppError } from '@cairn/rpc';
import { createTestDatabase, type TestDatabase } from '@cairn/testing';
import { AuditLog } from '../src/audit/audit-log';
import { policyOf } from '../src/governance/policy.repository';
import { Baseline1764000000000 } from '../src/migrations/1764000000000-baseline';
import { MessagingTables1764100000000 } from '../src/migrations/1764100000000-messaging-tables';
import { RegistryTables1764210000000 } from '../src/migrations/1764210000000-registry-tables';
import { AuditLog1764220000000 } from '../src/migrations/1764220000000-audit-log';
import { SearchIndexes1764240000000 } from '../src/migrations/1764240000000-search-indexes';
import { ModelsRepository } from '../src/models/models.repository';
import { ModelsService } from '../src/models/models.service';
import { RunProjection } from '../src/runs/run-projection';

export const SCHEMA = 'registry';

/** A fresh database with the registry's model and audit tables, and the services over it. */
export interface ModelsFixture {
  db: TestDatabase;
  ds: DataSource;
  uow: UnitOfWork;
  audit: AuditLog;
  runs: RunProjection;
  repository: ModelsRepository;
  models: ModelsService;
  close(): Promise<void>;
}

export async function modelsFixture(prefix: string): Promise<ModelsFixture> {
  const db = await createTestDatabase(prefix);
  const ds = createDataSource({
    url: db.url,
    schema: SCHEMA,
    service: `${prefix}-test`,
    migrations: [
      Baseline1764000000000,
      MessagingTables1764100000000,
      RegistryTables1764210000000,
      AuditLog1764220000000,
      SearchIndexes1764240000000,
    ],
  });
  await ds.initialize();
  await migrateUp(ds, SCHEMA);
  const audit = new AuditLog(ds, { schema: SCHEMA });
  const runs = new RunProjection(SCHEMA);
  const uow = new UnitOfWork(ds, SCHEMA);
  const repository = new ModelsRepository(SCHEMA);
  const models = new ModelsService({
    repository,
    schema: SCHEMA,
    audit,
    unitOfWork: (work) => uow.run(work),
    policyOf: (m, id) => policyOf(m, SCHEMA, id),
    runInputsOf: async (m, runId) => (await runs.find(m, runId))?.datasetInputs,
    runOf: (m, runId) => runs.find(m, runId),
  });
  return {
    db,
    ds,
    uow,
    audit,
    runs,
    repository,
    models,
    close: async () => {
      await ds.destroy();
      await db.drop();
    },
  };
}

/** The AppError a call failed with. */
export async function appFailure(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

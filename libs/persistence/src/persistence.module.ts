import {
  type DynamicModule,
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ReadinessRegistry } from '@cairn/telemetry';
import { createDataSource, type DataSourceOptions, migrateUp, migrationsApplied } from './data-source';

export interface PersistenceModuleOptions extends DataSourceOptions {
  migrateOnStart: boolean;
}

@Injectable()
class DataSourceLifecycle implements OnApplicationShutdown {
  private readonly logger = new Logger('Persistence');
  constructor(@Inject(DataSource) private readonly ds: DataSource) {}

  // Runs after the HTTP and gRPC servers have drained, so in-flight work keeps its pool.
  async onApplicationShutdown(): Promise<void> {
    if (this.ds.isInitialized) {
      await this.ds.destroy();
      this.logger.log('database pool closed');
    }
  }
}

/**
 * Gives a service its DataSource, applies migrations at start-up when asked (embedded mode),
 * and registers the `database` and `migrations` readiness checks.
 */
@Module({})
export class PersistenceModule {
  static forRoot(opts: PersistenceModuleOptions): DynamicModule {
    return {
      module: PersistenceModule,
      global: true,
      providers: [
        {
          provide: DataSource,
          inject: [ReadinessRegistry],
          useFactory: async (readiness: ReadinessRegistry) => {
            const logger = new Logger('Persistence');
            const ds = createDataSource(opts);
            await ds.initialize();
            if (opts.migrateOnStart) {
              const applied = await migrateUp(ds, opts.schema);
              logger.log({ msg: 'migrations applied', schema: opts.schema, applied });
            }
            readiness.register({
              name: 'database',
              check: async () => {
                await ds.query('SELECT 1');
                return { ok: true };
              },
            });
            // Pending migrations do not change once checked as applied, so the answer is cached.
            let applied = false;
            readiness.register({
              name: 'migrations',
              check: async () => {
                applied ||= await migrationsApplied(ds);
                return applied ? { ok: true } : { ok: false, detail: 'pending migrations' };
              },
            });
            return ds;
          },
        },
        DataSourceLifecycle,
      ],
      exports: [DataSource],
    };
  }
}

import { TOPICS } from '@cairn/contracts';
import type { ServiceBlueprint } from '@cairn/service-runtime';
import { Baseline1764000000000 } from './migrations/1764000000000-baseline';
import { MessagingTables1764100000000 } from './migrations/1764100000000-messaging-tables';
import { RegistryTables1764210000000 } from './migrations/1764210000000-registry-tables';
import { AuditLog1764220000000 } from './migrations/1764220000000-audit-log';
import { Webhooks1764230000000 } from './migrations/1764230000000-webhooks';
import { SearchIndexes1764240000000 } from './migrations/1764240000000-search-indexes';
import { RegistryCoreModule } from './registry-core.module';
import { registrySettings } from './registry.settings';
import { RunsModule } from './runs/runs.module';
import { WebhooksModule } from './webhooks';

/**
 * What the registry service is made of. It publishes on cairn.registry through its outbox and
 * consumes cairn.tracking (RunFinished, for the run projection) and its own topic (webhooks);
 * consumed topics come from the consumers' registrations, which the runtime provisions.
 */
export const registryBlueprint: ServiceBlueprint<typeof registrySettings> = {
  service: 'registry',
  extraSettings: registrySettings,
  migrations: [
    Baseline1764000000000,
    MessagingTables1764100000000,
    RegistryTables1764210000000,
    AuditLog1764220000000,
    Webhooks1764230000000,
    SearchIndexes1764240000000,
  ],
  messaging: { publishes: [TOPICS.registry] },
  features: (_settings, extra) => [
    RegistryCoreModule.forRoot(extra),
    WebhooksModule.forRoot(extra),
    RunsModule,
  ],
};

import { TOPICS } from '@cairn/contracts';
import type { ServiceBlueprint } from '@cairn/service-runtime';
import { Baseline1764000000000 } from './migrations/1764000000000-baseline';
import { MessagingTables1764100000000 } from './migrations/1764100000000-messaging-tables';

/** What the monitor service is made of; its features join here as their issues land. */
export const monitorBlueprint: ServiceBlueprint = {
  service: 'monitor',
  migrations: [Baseline1764000000000, MessagingTables1764100000000],
  messaging: { publishes: [TOPICS.monitor] },
  features: () => [],
};

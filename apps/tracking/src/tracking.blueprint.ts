import { artifactStoreSettings, createArtifactStore } from '@cairn/artifacts';
import { TOPICS } from '@cairn/contracts';
import type { ServiceBlueprint } from '@cairn/service-runtime';
import { ArtifactsModule } from './artifacts/artifacts.module';
import { ExperimentsModule } from './experiments/experiments.module';
import { Baseline1764000000000 } from './migrations/1764000000000-baseline';
import { MessagingTables1764100000000 } from './migrations/1764100000000-messaging-tables';
import { TrackingTables1764200000000 } from './migrations/1764200000000-tracking-tables';
import { CoveringIndexes1764300000000 } from './migrations/1764300000000-covering-indexes';
import { RunsModule } from './runs/runs.module';

/** What the tracking service is made of. */
export const trackingBlueprint: ServiceBlueprint<typeof artifactStoreSettings> = {
  service: 'tracking',
  extraSettings: artifactStoreSettings,
  migrations: [
    Baseline1764000000000,
    MessagingTables1764100000000,
    TrackingTables1764200000000,
    CoveringIndexes1764300000000,
  ],
  messaging: { publishes: [TOPICS.tracking] },
  features: (_settings, extra) => [
    ArtifactsModule.forRoot(createArtifactStore(extra)),
    ExperimentsModule,
    RunsModule,
  ],
};

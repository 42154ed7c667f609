import { type DynamicModule, Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { ArtifactStore } from '@cairn/artifacts';
import { ArtifactsGrpc } from './artifacts.grpc';
import { ARTIFACT_STORE } from './artifact-store.token';

/** Run artifacts: the configured store (global: experiments derive locations from it) and its API. */
@Global()
@Module({})
export class ArtifactsModule implements OnApplicationShutdown {
  constructor(@Inject(ARTIFACT_STORE) private readonly store: ArtifactStore) {}

  static forRoot(store: ArtifactStore): DynamicModule {
    return {
      module: ArtifactsModule,
      providers: [{ provide: ARTIFACT_STORE, useValue: store }, ArtifactsGrpc],
      exports: [ARTIFACT_STORE],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

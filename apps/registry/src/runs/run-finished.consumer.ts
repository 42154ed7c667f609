import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { type RunFinishedV1, type RunStartedV1, TOPICS } from '@cairn/contracts';
import type { ConsumedEvent, Transaction } from '@cairn/messaging';
import { EventConsumers } from '@cairn/service-runtime';
import { RunProjection } from './run-projection';

/** The consumer group is `cairn.registry.run-projection`. */
export const RUN_PROJECTION_CONSUMER = 'run-projection';
export const RUN_FINISHED = 'cairn.tracking.run.finished.v1';
export const RUN_STARTED = 'cairn.tracking.run.started.v1';

/**
 * Keeps the registry's projection of tracking runs (sources of `runs:/` versions, gates,
 * lineage) from tracking's RunStarted and RunFinished events. The projection is written in the consumer's
 * inbox transaction, so a redelivered event (same id) has no second effect; the consumer
 * runtime has validated `data` against the catalog schema, and sends invalid payloads and
 * unknown major versions to `cairn.tracking.dlq`.
 */
@Injectable()
export class RunFinishedConsumer implements OnModuleInit {
  constructor(
    @Inject(EventConsumers) private readonly consumers: EventConsumers,
    @Inject(RunProjection) private readonly projection: RunProjection,
  ) {}

  onModuleInit(): void {
    // From the beginning of the topic: a new registry must learn the runs finished before it.
    this.consumers.register({
      name: RUN_PROJECTION_CONSUMER,
      topics: [TOPICS.tracking],
      handlers: {
        [RUN_STARTED]: (event, tx) =>
          this.projection.applyStarted(tx.manager, event.id, event.data as RunStartedV1),
        [RUN_FINISHED]: (event, tx) => this.handle(event, tx),
      },
      startFrom: 'earliest',
    });
  }

  private async handle(event: ConsumedEvent, tx: Transaction): Promise<void> {
    await this.projection.apply(tx.manager, event.id, event.data as RunFinishedV1);
  }
}

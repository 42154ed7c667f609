import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { ROOT_LOGGER } from '@cairn/service-runtime';
import { EventJournalRepository } from './event-journal.repository';
import { EVENTS_SETTINGS } from './events.tokens';
import type { EventsSettings } from './events.settings';

const PRUNE_EVERY_MS = 10 * 60 * 1000;

/** Keeps the journal bounded: deletes events older than the retention, every ten minutes. */
@Injectable()
export class EventJournalRetention implements OnApplicationBootstrap, OnModuleDestroy {
  private timer?: NodeJS.Timeout;
  private readonly logger: Logger;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(EventJournalRepository) private readonly journal: EventJournalRepository,
    @Inject(EVENTS_SETTINGS) private readonly settings: EventsSettings,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'event-journal-retention' });
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.prune(), PRUNE_EVERY_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** Deletes what has aged out; a failure is logged and retried at the next interval. */
  async prune(now = Date.now()): Promise<number> {
    try {
      const cutoff = now - this.settings.CAIRN_GATEWAY_EVENT_RETENTION_HOURS * 3_600_000;
      return await this.journal.deleteOlderThan(this.ds.manager, cutoff);
    } catch (err) {
      this.logger.warn({ err }, 'event journal pruning failed; retried at the next interval');
      return 0;
    }
  }
}

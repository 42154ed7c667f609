import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import type { ServiceSettings } from '@cairn/config';
import { ROOT_LOGGER, SERVICE_SETTINGS } from '@cairn/service-runtime';
import { ApiKeysRepository } from './api-keys.repository';
import type { AuthConfig } from './auth.settings';
import { AUTH_CONFIG } from './auth.tokens';

/** Keys noted between flushes; past this a flush starts at once, so memory stays bounded. */
const MAX_PENDING = 10_000;

/**
 * Keeps API keys' `last_used_at` without a database write per call: authentication notes the
 * key in memory, and one batched UPDATE per interval (CAIRN_API_KEY_USAGE_FLUSH_MS) writes the
 * latest time of every key used since. The time is therefore coarse (up to one interval
 * late); a failed flush keeps its entries for the next one, and shutdown flushes what is left.
 */
@Injectable()
export class ApiKeyUsageRecorder implements OnModuleInit, BeforeApplicationShutdown, OnModuleDestroy {
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly repository: ApiKeysRepository;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(SERVICE_SETTINGS) settings: ServiceSettings,
    @Inject(AUTH_CONFIG) private readonly config: AuthConfig,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {
    this.repository = new ApiKeysRepository(settings.databaseSchema);
  }

  onModuleInit(): void {
    this.timer = setInterval(() => void this.flush(), this.config.apiKeyUsageFlushMs);
    this.timer.unref();
  }

  /** Notes that `keyId` authenticated a call at `at` (ms). */
  touch(keyId: string, at = Date.now()): void {
    const prev = this.pending.get(keyId);
    if (prev === undefined || prev < at) this.pending.set(keyId, at);
    if (this.pending.size >= MAX_PENDING) void this.flush();
  }

  /** Writes what has been noted; concurrent calls share one write. */
  flush(): Promise<void> {
    return (this.flushing ??= this.write().finally(() => (this.flushing = undefined)));
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0 || !this.ds.isInitialized) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      await this.repository.recordUsage(this.ds.manager, batch);
    } catch (err) {
      // Put the batch back (newer notes win) and try again at the next interval.
      for (const [k, t] of batch) if ((this.pending.get(k) ?? 0) < t) this.pending.set(k, t);
      this.logger.warn({ err, keys: batch.size }, 'could not record API key usage; retrying later');
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }
}

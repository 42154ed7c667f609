import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type BeforeApplicationShutdown,
} from '@nestjs/common';
import type { Logger } from 'pino';
import { Counter, Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import type { ServiceSettings } from '@cairn/config';
import { ROOT_LOGGER, SERVICE_SETTINGS } from '@cairn/service-runtime';
import { judgeAttempt } from './retry-policy';
import type { WebhookSender } from './webhook-sender';
import type { WebhookConfig } from './webhook.settings';
import { type ClaimedDelivery, WebhooksRepository } from './webhooks.repository';
import { WEBHOOK_CONFIG, WEBHOOK_SENDER } from './webhooks.tokens';

/** Extra lease beyond the request timeout before a claimed attempt counts as abandoned. */
const LEASE_MARGIN_MS = 30_000;

/**
 * Posts due deliveries: claims a batch (FOR UPDATE SKIP LOCKED, so replicas share the work
 * without posting one attempt twice), posts them concurrently, and records each outcome:
 * delivered, retried later (next_attempt_at, persisted, so retries survive restarts), or
 * failed. Polls; a full batch is followed at once by the next one.
 */
@Injectable()
export class WebhookDeliveryWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly repository: WebhooksRepository;
  private readonly logger: Logger;
  private readonly attempts: Counter<'outcome'>;
  private running = false;
  private loop?: Promise<void>;
  private wake?: () => void;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(SERVICE_SETTINGS) settings: ServiceSettings,
    @Inject(WEBHOOK_CONFIG) private readonly config: WebhookConfig,
    @Inject(WEBHOOK_SENDER) private readonly sender: WebhookSender,
    @Inject(ROOT_LOGGER) logger: Logger,
    @Inject(Registry) metrics: Registry,
  ) {
    this.repository = new WebhooksRepository(settings.databaseSchema);
    this.logger = logger.child({ component: 'webhook-delivery' });
    const name = 'cairn_registry_webhook_attempts_total';
    this.attempts =
      (metrics.getSingleMetric(name) as Counter<'outcome'> | undefined) ??
      new Counter({
        name,
        help: 'Webhook delivery attempts, by outcome (succeeded, retry, failed).',
        labelNames: ['outcome'],
        registers: [metrics],
      });
  }

  onApplicationBootstrap(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Before the pool closes: no new claims; attempts in flight finish (bounded by the timeout). */
  async beforeApplicationShutdown(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    this.sender.close();
  }

  private async run(): Promise<void> {
    while (this.running) {
      let claimed = 0;
      try {
        claimed = await this.deliverBatch();
      } catch (err) {
        this.logger.warn({ err }, 'webhook delivery round failed; retried at the next poll');
      }
      if (claimed < this.config.concurrency) await this.sleep(this.config.pollIntervalMs);
    }
  }

  /** One round: claim, post, record. Returns how many deliveries it claimed. */
  async deliverBatch(): Promise<number> {
    const batch = await this.repository.claimDue(
      this.ds.manager,
      this.config.concurrency,
      this.config.timeoutMs + LEASE_MARGIN_MS,
    );
    await Promise.all(batch.map((d) => this.attempt(d)));
    return batch.length;
  }

  private async attempt(d: ClaimedDelivery): Promise<void> {
    if (d.webhookStatus !== 'ACTIVE') {
      // Disabled after the event was queued: MLflow does not post to disabled webhooks either.
      await this.repository.recordAttempt(this.ds.manager, d.deliveryId, {
        status: 'FAILED',
        error: 'WEBHOOK_DISABLED: the webhook was disabled before delivery',
      });
      this.attempts.inc({ outcome: 'failed' });
      return;
    }
    const outcome = await this.sender.send({
      url: d.url,
      deliveryId: d.deliveryId,
      payload: d.payload,
      secret: d.secret,
    });
    const verdict = judgeAttempt(outcome, d.attempts, this.config);
    const log = { deliveryId: d.deliveryId, webhookId: d.webhookId, attempt: d.attempts };
    switch (verdict.state) {
      case 'SUCCEEDED':
        await this.repository.recordAttempt(this.ds.manager, d.deliveryId, {
          status: 'SUCCEEDED',
          responseStatus: verdict.responseStatus,
          error: '',
        });
        this.attempts.inc({ outcome: 'succeeded' });
        break;
      case 'RETRY':
        await this.repository.recordAttempt(this.ds.manager, d.deliveryId, {
          status: 'PENDING',
          retryInMs: verdict.delayMs,
          responseStatus: verdict.responseStatus,
          error: verdict.error,
        });
        this.attempts.inc({ outcome: 'retry' });
        this.logger.info(
          { ...log, delayMs: verdict.delayMs, error: verdict.error },
          'webhook delivery will be retried',
        );
        break;
      case 'FAILED':
        await this.repository.recordAttempt(this.ds.manager, d.deliveryId, {
          status: 'FAILED',
          responseStatus: verdict.responseStatus,
          error: verdict.error,
        });
        this.attempts.inc({ outcome: 'failed' });
        this.logger.warn({ ...log, error: verdict.error }, 'webhook delivery failed');
        break;
      default: {
        const unreachable: never = verdict;
        throw new Error(`unhandled verdict ${JSON.stringify(unreachable)}`);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

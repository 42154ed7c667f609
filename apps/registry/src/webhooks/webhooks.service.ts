import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ServiceSettings } from '@cairn/config';
import { SERVICE_SETTINGS } from '@cairn/service-runtime';
import { checkUrl } from './url-guard';
import { eventName, examplePayload, webhookBody, type WebhookEvent } from './webhook-events';
import type { WebhookSender } from './webhook-sender';
import type { WebhookConfig } from './webhook.settings';
import {
  decodePageToken,
  DELIVERY_PAGE_KEY,
  encodePageToken,
  invalidParameter,
  validateDescription,
  validateEvents,
  validateMaxResults,
  validateName,
  validateSecret,
  validateUrlSyntax,
  validateWebhookId,
  WEBHOOK_PAGE_KEY,
  webhookNotFound,
} from './webhook-validation';
import {
  type DeliveryRecord,
  type WebhookRecord,
  WebhooksRepository,
  type WebhookStatusName,
} from './webhooks.repository';
import { WEBHOOK_CONFIG, WEBHOOK_SENDER } from './webhooks.tokens';

type EventInput = { entity: string; action: string };

export interface WebhookTestResult {
  success: boolean;
  responseStatus?: number;
  responseBody: string;
  errorMessage: string;
}

/** Webhook management (MLflow's create/get/list/update/delete/test) and delivery listing. */
@Injectable()
export class WebhooksService {
  readonly repository: WebhooksRepository;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(SERVICE_SETTINGS) settings: ServiceSettings,
    @Inject(WEBHOOK_CONFIG) private readonly config: WebhookConfig,
    @Inject(WEBHOOK_SENDER) private readonly sender: WebhookSender,
  ) {
    this.repository = new WebhooksRepository(settings.databaseSchema);
  }

  async create(req: {
    name: string;
    description: string;
    url: string;
    events: EventInput[];
    secret: string;
    status?: WebhookStatusName;
  }): Promise<WebhookRecord> {
    validateName(req.name);
    validateDescription(req.description);
    validateUrlSyntax(req.url);
    validateSecret(req.secret);
    const events = validateEvents(req.events);
    await checkUrl(req.url, this.config.allowedNetworks);
    const webhookId = randomUUID();
    return this.ds.transaction(async (m) => {
      await this.repository.insert(m, {
        webhookId,
        name: req.name,
        description: req.description,
        url: req.url,
        secret: req.secret === '' ? null : req.secret,
        status: req.status ?? 'ACTIVE',
        events,
        now: Date.now(),
      });
      return (await this.repository.find(m, webhookId))!;
    });
  }

  async get(id: string): Promise<WebhookRecord> {
    validateWebhookId(id);
    const found = await this.repository.find(this.ds.manager, id);
    if (!found) throw webhookNotFound(id);
    return found;
  }

  async list(
    maxResults: number | undefined,
    pageToken: string,
  ): Promise<{ webhooks: WebhookRecord[]; nextPageToken: string }> {
    const limit = validateMaxResults(maxResults);
    const after = decodePageToken(pageToken, WEBHOOK_PAGE_KEY);
    const rows = await this.repository.list(this.ds.manager, limit + 1, after);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const nextPageToken =
      rows.length > limit && last
        ? encodePageToken({ t: String(last.creationTimestamp), id: last.webhookId })
        : '';
    return { webhooks: page, nextPageToken };
  }

  async update(req: {
    webhookId: string;
    name?: string;
    description?: string;
    url?: string;
    events: EventInput[];
    secret?: string;
    status?: WebhookStatusName;
  }): Promise<WebhookRecord> {
    validateWebhookId(req.webhookId);
    if (req.name !== undefined) validateName(req.name);
    if (req.description !== undefined) validateDescription(req.description);
    if (req.secret !== undefined) validateSecret(req.secret);
    // As MLflow: an empty list leaves the events as they are.
    const events = req.events.length > 0 ? validateEvents(req.events) : undefined;
    if (req.url !== undefined) {
      validateUrlSyntax(req.url);
      await checkUrl(req.url, this.config.allowedNetworks);
    }
    return this.ds.transaction(async (m) => {
      if (!(await this.repository.find(m, req.webhookId, true))) throw webhookNotFound(req.webhookId);
      await this.repository.update(m, req.webhookId, {
        name: req.name,
        description: req.description,
        url: req.url,
        // An empty secret removes it (MLflow's update_webhook).
        secret: req.secret === undefined ? undefined : req.secret === '' ? null : req.secret,
        status: req.status,
        events,
        now: Date.now(),
      });
      return (await this.repository.find(m, req.webhookId))!;
    });
  }

  async delete(id: string): Promise<void> {
    validateWebhookId(id);
    if (!(await this.repository.delete(this.ds.manager, id))) throw webhookNotFound(id);
  }

  /**
   * Posts MLflow's example payload of one event (default the webhook's first) once, through
   * the same guard and signing as deliveries, and reports the answer. Success is a 2xx answer:
   * redirects are not followed, so a 3xx is not a success here.
   */
  async test(id: string, event?: EventInput): Promise<WebhookTestResult> {
    const webhook = await this.get(id);
    const chosen: WebhookEvent = event ? validateEvents([event])[0] : webhook.events[0];
    if (!chosen) throw invalidParameter('Webhook events cannot be empty');
    const payload = webhookBody(chosen, examplePayload(chosen), new Date().toISOString());
    const secret = await this.repository.secretOf(this.ds.manager, id);
    const outcome = await this.sender.send({ url: webhook.url, deliveryId: randomUUID(), payload, secret });
    switch (outcome.kind) {
      case 'response':
        return {
          success: outcome.status >= 200 && outcome.status <= 299,
          responseStatus: outcome.status,
          responseBody: outcome.body,
          errorMessage: '',
        };
      case 'network-error':
      case 'forbidden':
        return {
          success: false,
          responseBody: '',
          errorMessage: `Failed to test webhook (${eventName(chosen)}): ${outcome.error}`,
        };
      default: {
        const unreachable: never = outcome;
        throw new Error(`unhandled outcome ${JSON.stringify(unreachable)}`);
      }
    }
  }

  async listDeliveries(
    webhookId: string,
    maxResults: number | undefined,
    pageToken: string,
  ): Promise<{ deliveries: DeliveryRecord[]; nextPageToken: string }> {
    await this.get(webhookId);
    const limit = validateMaxResults(maxResults);
    const after = decodePageToken(pageToken, DELIVERY_PAGE_KEY);
    const rows = await this.repository.listDeliveries(this.ds.manager, webhookId, limit + 1, after);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const nextPageToken =
      rows.length > limit && last ? encodePageToken({ t: last.createdAtText, id: last.deliveryId }) : '';
    return { deliveries: page, nextPageToken };
  }
}

import { Inject, Injectable } from '@nestjs/common';
import { registryWebhooksV1 as pb } from '@cairn/proto';
import { AppError, GrpcService } from '@cairn/rpc';
import type { WebhookAction, WebhookEntity, WebhookEvent } from './webhook-events';
import type {
  DeliveryRecord,
  DeliveryStatusName,
  WebhookRecord,
  WebhookStatusName,
} from './webhooks.repository';
import { WebhooksService } from './webhooks.service';

type Req<K extends keyof typeof pb.WebhookServiceService> =
  (typeof pb.WebhookServiceService)[K]['requestDeserialize'] extends (b: Buffer) => infer R ? R : never;

const ENTITY_TO_PROTO: Record<WebhookEntity, pb.WebhookEntity> = {
  registered_model: pb.WebhookEntity.WEBHOOK_ENTITY_REGISTERED_MODEL,
  model_version: pb.WebhookEntity.WEBHOOK_ENTITY_MODEL_VERSION,
  model_version_tag: pb.WebhookEntity.WEBHOOK_ENTITY_MODEL_VERSION_TAG,
  model_version_alias: pb.WebhookEntity.WEBHOOK_ENTITY_MODEL_VERSION_ALIAS,
};
const ACTION_TO_PROTO: Record<WebhookAction, pb.WebhookAction> = {
  created: pb.WebhookAction.WEBHOOK_ACTION_CREATED,
  updated: pb.WebhookAction.WEBHOOK_ACTION_UPDATED,
  deleted: pb.WebhookAction.WEBHOOK_ACTION_DELETED,
  set: pb.WebhookAction.WEBHOOK_ACTION_SET,
};
const DELIVERY_STATUS_TO_PROTO: Record<DeliveryStatusName, pb.WebhookDeliveryStatus> = {
  PENDING: pb.WebhookDeliveryStatus.WEBHOOK_DELIVERY_STATUS_PENDING,
  SUCCEEDED: pb.WebhookDeliveryStatus.WEBHOOK_DELIVERY_STATUS_SUCCEEDED,
  FAILED: pb.WebhookDeliveryStatus.WEBHOOK_DELIVERY_STATUS_FAILED,
};

/** Proto enum → MLflow's lower-case name ('' when unspecified or unknown, which validation rejects). */
function enumName(value: number, prefix: string, names: Record<number, string>): string {
  const name = names[value];
  return name && name.startsWith(prefix) && !name.endsWith('_UNSPECIFIED')
    ? name.slice(prefix.length).toLowerCase()
    : '';
}

function eventFromProto(e: pb.WebhookEvent): { entity: string; action: string } {
  return {
    entity: enumName(e.entity, 'WEBHOOK_ENTITY_', pb.WebhookEntity),
    action: enumName(e.action, 'WEBHOOK_ACTION_', pb.WebhookAction),
  };
}

const eventToProto = (e: WebhookEvent): pb.WebhookEvent => ({
  entity: ENTITY_TO_PROTO[e.entity],
  action: ACTION_TO_PROTO[e.action],
});

function statusFromProto(s: pb.WebhookStatus): WebhookStatusName | undefined {
  switch (s) {
    case pb.WebhookStatus.WEBHOOK_STATUS_UNSPECIFIED:
      return undefined;
    case pb.WebhookStatus.WEBHOOK_STATUS_ACTIVE:
      return 'ACTIVE';
    case pb.WebhookStatus.WEBHOOK_STATUS_DISABLED:
      return 'DISABLED';
    case pb.WebhookStatus.UNRECOGNIZED:
    default:
      throw new AppError(
        'invalid_argument',
        'INVALID_PARAMETER_VALUE',
        `Invalid webhook status: ${String(s)}`,
        {
          status: String(s),
        },
      );
  }
}

function webhookToProto(w: WebhookRecord): pb.Webhook {
  return {
    webhookId: w.webhookId,
    name: w.name,
    description: w.description,
    url: w.url,
    events: w.events.map(eventToProto),
    status:
      w.status === 'ACTIVE'
        ? pb.WebhookStatus.WEBHOOK_STATUS_ACTIVE
        : pb.WebhookStatus.WEBHOOK_STATUS_DISABLED,
    creationTimestamp: w.creationTimestamp,
    lastUpdatedTimestamp: w.lastUpdatedTimestamp,
    hasSecret: w.hasSecret,
  };
}

function deliveryToProto(d: DeliveryRecord): pb.WebhookDelivery {
  return {
    deliveryId: d.deliveryId,
    webhookId: d.webhookId,
    eventId: d.eventId,
    event: eventToProto(d.event),
    status: DELIVERY_STATUS_TO_PROTO[d.status],
    payload: d.payload,
    attempts: d.attempts,
    nextAttemptTimestamp: d.nextAttemptAt ?? undefined,
    lastResponseStatus: d.lastResponseStatus ?? undefined,
    lastError: d.lastError,
    creationTimestamp: d.createdAt,
    deliveredTimestamp: d.deliveredAt ?? undefined,
  };
}

/** cairn.registry.v1.WebhookService. */
@Injectable()
@GrpcService(pb.WebhookServiceService)
export class WebhooksGrpc {
  constructor(@Inject(WebhooksService) private readonly webhooks: WebhooksService) {}

  async createWebhook(req: Req<'createWebhook'>): Promise<pb.CreateWebhookResponse> {
    const webhook = await this.webhooks.create({
      name: req.name,
      description: req.description,
      url: req.url,
      events: req.events.map(eventFromProto),
      secret: req.secret,
      status: statusFromProto(req.status),
    });
    return { webhook: webhookToProto(webhook) };
  }

  async getWebhook(req: Req<'getWebhook'>): Promise<pb.GetWebhookResponse> {
    return { webhook: webhookToProto(await this.webhooks.get(req.webhookId)) };
  }

  async listWebhooks(req: Req<'listWebhooks'>): Promise<pb.ListWebhooksResponse> {
    const r = await this.webhooks.list(req.maxResults, req.pageToken);
    return { webhooks: r.webhooks.map(webhookToProto), nextPageToken: r.nextPageToken };
  }

  async updateWebhook(req: Req<'updateWebhook'>): Promise<pb.UpdateWebhookResponse> {
    const webhook = await this.webhooks.update({
      webhookId: req.webhookId,
      name: req.name,
      description: req.description,
      url: req.url,
      events: req.events.map(eventFromProto),
      secret: req.secret,
      status: statusFromProto(req.status),
    });
    return { webhook: webhookToProto(webhook) };
  }

  async deleteWebhook(req: Req<'deleteWebhook'>): Promise<pb.DeleteWebhookResponse> {
    await this.webhooks.delete(req.webhookId);
    return {};
  }

  async testWebhook(req: Req<'testWebhook'>): Promise<pb.TestWebhookResponse> {
    const r = await this.webhooks.test(req.webhookId, req.event ? eventFromProto(req.event) : undefined);
    return { result: r };
  }

  async listWebhookDeliveries(req: Req<'listWebhookDeliveries'>): Promise<pb.ListWebhookDeliveriesResponse> {
    const r = await this.webhooks.listDeliveries(req.webhookId, req.maxResults, req.pageToken);
    return { deliveries: r.deliveries.map(deliveryToProto), nextPageToken: r.nextPageToken };
  }
}

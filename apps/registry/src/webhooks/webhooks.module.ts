import { type DynamicModule, Module } from '@nestjs/common';
import { WebhookDeliveryWorker } from './webhook-delivery.worker';
import { WebhookEventConsumer } from './webhook-event.consumer';
import { WebhookSender } from './webhook-sender';
import { toWebhookConfig, type WebhookConfig, type WebhookSettingsInput } from './webhook.settings';
import { WebhooksGrpc } from './webhooks.grpc';
import { WebhooksService } from './webhooks.service';
import { WEBHOOK_CONFIG, WEBHOOK_SENDER } from './webhooks.tokens';

/**
 * MLflow-compatible webhooks: the WebhookService gRPC API, the `webhooks` consumer of the
 * registry topic that queues deliveries, and the delivery worker. Needs the registry's
 * messaging (EventConsumers) and `webhookSettings` among its extra settings:
 * `WebhooksModule.forRoot(extra)`.
 */
@Module({})
export class WebhooksModule {
  static forRoot(settings: WebhookSettingsInput): DynamicModule {
    return {
      module: WebhooksModule,
      providers: [
        { provide: WEBHOOK_CONFIG, useValue: toWebhookConfig(settings) },
        {
          provide: WEBHOOK_SENDER,
          inject: [WEBHOOK_CONFIG],
          useFactory: (config: WebhookConfig) => new WebhookSender(config),
        },
        WebhooksService,
        WebhooksGrpc,
        WebhookEventConsumer,
        WebhookDeliveryWorker,
      ],
      exports: [WebhooksService],
    };
  }
}

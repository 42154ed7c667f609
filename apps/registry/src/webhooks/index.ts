export { WebhooksModule } from './webhooks.module';
export { webhookSettings, type WebhookSettingsInput } from './webhook.settings';

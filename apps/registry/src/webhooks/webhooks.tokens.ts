/** The feature's validated settings (WebhookConfig). */
export const WEBHOOK_CONFIG = Symbol('WEBHOOK_CONFIG');
/** The guarded, signing HTTP sender (WebhookSender), shared by deliveries and Test. */
export const WEBHOOK_SENDER = Symbol('WEBHOOK_SENDER');

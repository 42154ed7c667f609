import { AppError } from '@cairn/rpc';
import {
  eventName,
  isValidCombination,
  VALID_ENTITY_ACTIONS,
  WEBHOOK_ACTIONS,
  WEBHOOK_ENTITIES,
  type WebhookAction,
  type WebhookEntity,
  type WebhookEvent,
} from './webhook-events';

export { decodePageToken, encodePageToken } from '../validation/page-token';

export { BIGINT_PAGE_KEY as WEBHOOK_PAGE_KEY } from '../validation/page-token';
export const DELIVERY_PAGE_KEY = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2})?$/;

/*
 * Request validation with MLflow's messages where MLflow has them (mlflow/entities/webhook.py,
 * the webhook checks of its store), so a client sees what an MLflow server would say. Failures
 * are INVALID_ARGUMENT with reason INVALID_PARAMETER_VALUE (MLflow's error code, which the
 * gateway maps to HTTP 400) unless a more precise reason exists.
 */

export const LIMITS = {
  nameLength: 256,
  descriptionLength: 5000,
  urlLength: 2048,
  secretLength: 1024,
  events: 32,
  maxResults: 1000,
  defaultMaxResults: 100,
} as const;

export function invalidParameter(message: string, details: Record<string, string> = {}): AppError {
  return new AppError('invalid_argument', 'INVALID_PARAMETER_VALUE', message, details);
}

function lengthLimit(what: string, limit: number, value: string): void {
  if (value.length > limit) {
    throw invalidParameter(
      `${what} '${value.slice(0, 250)}' had length ${value.length}, which exceeded length limit of ${limit}`,
    );
  }
}

export function validateName(name: string): void {
  if (name.trim() === '') throw invalidParameter('Webhook name cannot be empty');
  lengthLimit('Webhook name', LIMITS.nameLength, name);
}

export function validateDescription(description: string): void {
  lengthLimit('Webhook description', LIMITS.descriptionLength, description);
}

/** The syntax only; the destination is checked by the URL guard. */
export function validateUrlSyntax(url: string): void {
  if (url.trim() === '') throw invalidParameter('Webhook URL cannot be empty');
  lengthLimit('Webhook URL', LIMITS.urlLength, url);
}

export function validateSecret(secret: string): void {
  lengthLimit('Webhook secret', LIMITS.secretLength, secret);
}

const isEntity = (v: string): v is WebhookEntity => (WEBHOOK_ENTITIES as readonly string[]).includes(v);
const isAction = (v: string): v is WebhookAction => (WEBHOOK_ACTIONS as readonly string[]).includes(v);

/** Python's repr of a sorted list of strings, as MLflow's message prints it. */
const pyList = (items: readonly string[]) =>
  `[${[...items]
    .sort()
    .map((i) => `'${i}'`)
    .join(', ')}]`;

/** Events as the transport hands them (lower-case names; '' when unspecified), deduplicated. */
export function validateEvents(events: ReadonlyArray<{ entity: string; action: string }>): WebhookEvent[] {
  if (events.length === 0) throw invalidParameter('Webhook events cannot be empty');
  if (events.length > LIMITS.events)
    throw invalidParameter(`A webhook can subscribe to at most ${LIMITS.events} events`);
  const out = new Map<string, WebhookEvent>();
  for (const e of events) {
    if (!isEntity(e.entity)) {
      throw invalidParameter(
        `Invalid webhook entity: '${e.entity}'. Valid entities are: ${pyList(WEBHOOK_ENTITIES)}`,
        {
          entity: e.entity,
        },
      );
    }
    if (!isAction(e.action) || !isValidCombination({ entity: e.entity, action: e.action })) {
      throw invalidParameter(
        `Invalid action '${e.action}' for entity '${e.entity}'. Valid actions are: ${pyList(VALID_ENTITY_ACTIONS[e.entity])}`,
        { entity: e.entity, action: e.action },
      );
    }
    const event = { entity: e.entity, action: e.action };
    out.set(eventName(event), event);
  }
  return [...out.values()];
}

export function validateMaxResults(value: number | undefined): number {
  if (value === undefined) return LIMITS.defaultMaxResults;
  if (!Number.isInteger(value) || value < 1 || value > LIMITS.maxResults) {
    throw invalidParameter(
      `Invalid value ${value} for parameter 'max_results' supplied. It must be between 1 and ${LIMITS.maxResults}.`,
      { max_results: String(value) },
    );
  }
  return value;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function webhookNotFound(id: string): AppError {
  return new AppError('not_found', 'WEBHOOK_NOT_FOUND', `Webhook with ID ${id} not found.`, {
    webhook_id: id,
  });
}

/** Ids are UUIDs; anything else cannot name a webhook (and must not reach a uuid cast in SQL). */
export function validateWebhookId(id: string): void {
  if (id === '') {
    throw new AppError(
      'invalid_argument',
      'MISSING_PARAMETER',
      "Missing value for required parameter 'webhook_id'.",
    );
  }
  if (!UUID.test(id)) throw webhookNotFound(id);
}

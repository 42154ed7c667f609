import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { positiveInt } from '@cairn/config';

function isCidrList(value: string): boolean {
  return parseCidrList(value) !== undefined;
}

/**
 * `10.0.0.0/8, fd00::/8` → parsed ranges; a bare address means that one address. Undefined
 * when an entry is not a CIDR. An empty string is the empty list.
 */
export function parseCidrList(value: string): Array<[ipaddr.IPv4 | ipaddr.IPv6, number]> | undefined {
  const out: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]> = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    if (ipaddr.isValidCIDR(entry)) out.push(ipaddr.parseCIDR(entry));
    else if (ipaddr.isValid(entry)) {
      const addr = ipaddr.parse(entry);
      out.push([addr, addr.kind() === 'ipv4' ? 32 : 128]);
    } else return undefined;
  }
  return out;
}

/**
 * The webhook settings, keyed by environment variable, for the registry's `extraSettings`.
 * A plain object without object-level refinements, so its shape merges into the registry's.
 */
export const webhookSettings = z.object({
  /**
   * Networks webhooks may reach although they are loopback, private, link-local and so on
   * (comma-separated CIDRs, e.g. an internal CI server's subnet). Empty by default: only
   * public unicast destinations.
   */
  CAIRN_REGISTRY_WEBHOOK_ALLOWED_NETWORKS: z
    .string()
    .refine(isCidrList, { message: 'must be a comma-separated list of CIDRs, e.g. 10.1.0.0/16,fd00::/8' })
    .default(''),
  /** One delivery attempt, connection to last byte of the response. */
  CAIRN_REGISTRY_WEBHOOK_TIMEOUT_MS: positiveInt(10_000),
  /** Attempts per delivery before it is marked FAILED. */
  CAIRN_REGISTRY_WEBHOOK_MAX_ATTEMPTS: positiveInt(5),
  /** Delay before the first retry; doubled at each further one, up to the cap. */
  CAIRN_REGISTRY_WEBHOOK_BACKOFF_BASE_MS: positiveInt(1_000),
  CAIRN_REGISTRY_WEBHOOK_BACKOFF_CAP_MS: positiveInt(60_000),
  /** How often the delivery worker looks for due deliveries. */
  CAIRN_REGISTRY_WEBHOOK_POLL_INTERVAL_MS: positiveInt(1_000),
  /** Deliveries one replica posts at once. */
  CAIRN_REGISTRY_WEBHOOK_CONCURRENCY: positiveInt(8),
});

export type WebhookSettingsInput = z.infer<typeof webhookSettings>;

/** The validated settings as the webhook feature uses them. */
export interface WebhookConfig {
  allowedNetworks: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]>;
  timeoutMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  pollIntervalMs: number;
  concurrency: number;
}

export function toWebhookConfig(s: WebhookSettingsInput): WebhookConfig {
  return {
    // Validated by the schema; an unparsable list cannot reach here.
    allowedNetworks: parseCidrList(s.CAIRN_REGISTRY_WEBHOOK_ALLOWED_NETWORKS) ?? [],
    timeoutMs: s.CAIRN_REGISTRY_WEBHOOK_TIMEOUT_MS,
    maxAttempts: s.CAIRN_REGISTRY_WEBHOOK_MAX_ATTEMPTS,
    backoffBaseMs: s.CAIRN_REGISTRY_WEBHOOK_BACKOFF_BASE_MS,
    backoffCapMs: Math.max(s.CAIRN_REGISTRY_WEBHOOK_BACKOFF_CAP_MS, s.CAIRN_REGISTRY_WEBHOOK_BACKOFF_BASE_MS),
    pollIntervalMs: s.CAIRN_REGISTRY_WEBHOOK_POLL_INTERVAL_MS,
    concurrency: s.CAIRN_REGISTRY_WEBHOOK_CONCURRENCY,
  };
}

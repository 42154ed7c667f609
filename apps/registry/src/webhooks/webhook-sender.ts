import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { AppError } from '@cairn/rpc';
import {
  checkUrlStatically,
  ForbiddenDestinationError,
  guardedLookup,
  WEBHOOK_URL_FORBIDDEN,
} from './url-guard';
import type { WebhookConfig } from './webhook.settings';

/** MLflow's headers (mlflow/webhooks/constants.py). */
export const DELIVERY_ID_HEADER = 'X-MLflow-Delivery-Id';
export const TIMESTAMP_HEADER = 'X-MLflow-Timestamp';
export const SIGNATURE_HEADER = 'X-MLflow-Signature';
const SIGNATURE_VERSION = 'v1';

/** The response bytes kept (Test's response_body, a delivery's last error). */
const MAX_RESPONSE_BYTES = 4096;

/**
 * MLflow's signature: `v1,` + base64 of HMAC-SHA256(secret, "{delivery_id}.{timestamp}.{payload}"),
 * over the exact body posted (mlflow/webhooks/delivery.py `_generate_hmac_signature`).
 */
export function signPayload(secret: string, deliveryId: string, timestamp: string, payload: string): string {
  const mac = createHmac('sha256', secret)
    .update(`${deliveryId}.${timestamp}.${payload}`, 'utf8')
    .digest('base64');
  return `${SIGNATURE_VERSION},${mac}`;
}

export type SendOutcome =
  | { kind: 'response'; status: number; body: string; retryAfter?: string }
  /** No answer: connection refused or reset, DNS failure, timeout. */
  | { kind: 'network-error'; error: string }
  /** The destination is forbidden (URL or resolved address): never retried. */
  | { kind: 'forbidden'; error: string };

export interface WebhookRequest {
  url: string;
  deliveryId: string;
  payload: string;
  secret: string | null;
}

/**
 * Posts webhook bodies. Node's own http(s) client is used because the SSRF guard needs a hook
 * between name resolution and connect, and an Agent's `lookup` is exactly that hook (the
 * global fetch would need undici's connector for the same). Redirects are not followed: a 3xx
 * could point anywhere, including at addresses the guard refuses.
 */
export class WebhookSender {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(private readonly config: WebhookConfig) {
    const lookup = guardedLookup(config.allowedNetworks);
    this.httpAgent = new http.Agent({ keepAlive: true, lookup });
    this.httpsAgent = new https.Agent({ keepAlive: true, lookup });
  }

  async send(req: WebhookRequest): Promise<SendOutcome> {
    try {
      // Checked again at every attempt: the settings may have changed since the webhook was saved.
      checkUrlStatically(req.url, this.config.allowedNetworks);
    } catch (err) {
      if (err instanceof AppError && err.reason === WEBHOOK_URL_FORBIDDEN)
        return { kind: 'forbidden', error: err.message };
      throw err;
    }
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'User-Agent': 'cairn-registry-webhooks',
      [DELIVERY_ID_HEADER]: req.deliveryId,
      [TIMESTAMP_HEADER]: timestamp,
    };
    // As MLflow: a webhook without a secret gets unsigned deliveries.
    if (req.secret)
      headers[SIGNATURE_HEADER] = signPayload(req.secret, req.deliveryId, timestamp, req.payload);
    try {
      return await this.post(req.url, req.payload, headers);
    } catch (err) {
      if (err instanceof ForbiddenDestinationError) {
        return { kind: 'forbidden', error: `Webhook URL '${req.url}' is not allowed: ${err.message}` };
      }
      const e = err as NodeJS.ErrnoException;
      return { kind: 'network-error', error: `${e.code ?? e.name}: ${e.message}` };
    }
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private post(url: string, body: string, headers: Record<string, string>): Promise<SendOutcome> {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    const agent = target.protocol === 'https:' ? this.httpsAgent : this.httpAgent;
    return new Promise((resolve, reject) => {
      const request = client.request(
        target,
        {
          method: 'POST',
          agent,
          headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
          // One deadline for the whole exchange, connect to last byte.
          signal: AbortSignal.timeout(this.config.timeoutMs),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let kept = 0;
          res.on('data', (chunk: Buffer) => {
            if (kept < MAX_RESPONSE_BYTES) {
              chunks.push(chunk);
              kept += chunk.length;
            }
          });
          res.on('end', () =>
            resolve({
              kind: 'response',
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BYTES).toString('utf8'),
              retryAfter: res.headers['retry-after'],
            }),
          );
          res.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }
}

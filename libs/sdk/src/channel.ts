import { type ChannelCredentials, credentials } from '@grpc/grpc-js';

/** Where the gateway is and whether to speak TLS to it. */
export interface GatewayTarget {
  /** `host:port` as grpc-js expects it. */
  readonly target: string;
  readonly tls: boolean;
}

/**
 * Reads a gateway address: `host:port` (plaintext, like `npm start`'s gateway), or with a
 * scheme: `https://` / `grpcs://` for TLS (port 443 by default), `http://` / `grpc://` for plaintext.
 */
export function parseGatewayAddress(address: string): GatewayTarget {
  const trimmed = address.trim();
  const match = /^([a-z]+):\/\/(.*)$/i.exec(trimmed);
  if (!match) {
    if (trimmed === '') throw new Error('the gateway address is empty');
    return { target: trimmed, tls: false };
  }
  const scheme = match[1].toLowerCase();
  const rest = match[2].replace(/\/+$/, '');
  if (rest === '') throw new Error(`the gateway address ${address} has no host`);
  switch (scheme) {
    case 'https':
    case 'grpcs':
      return { target: /:\d+$/.test(rest) ? rest : `${rest}:443`, tls: true };
    case 'http':
    case 'grpc':
      return { target: /:\d+$/.test(rest) ? rest : `${rest}:80`, tls: false };
    default:
      throw new Error(`unsupported scheme ${scheme}:// in the gateway address ${address}`);
  }
}

export function channelCredentials(target: GatewayTarget, rootCerts?: Buffer): ChannelCredentials {
  return target.tls ? credentials.createSsl(rootCerts) : credentials.createInsecure();
}

/** A method the client may call again when the gateway is briefly unavailable. */
export interface RetryableMethod {
  readonly service: string;
  readonly method: string;
}

// Reads change nothing, so repeating one after UNAVAILABLE (the request never reached a
// service, or the connection dropped) is safe; writes are never retried.
const READ_METHOD = /^(Get|List|Search|Verify|Evaluate|WhoAmI|Download)/;

/** The idempotent reads among generated service definitions (keyed by method, with `path`). */
export function readMethodsOf(
  definitions: ReadonlyArray<Record<string, { path: string }>>,
): RetryableMethod[] {
  const methods: RetryableMethod[] = [];
  for (const definition of definitions) {
    for (const { path } of Object.values(definition)) {
      const [, service, method] = path.split('/');
      if (READ_METHOD.test(method)) methods.push({ service, method });
    }
  }
  return methods;
}

/**
 * A gRPC service config retrying `methods` on UNAVAILABLE with exponential back-off: grpc-js
 * does the retrying (and its retry throttling keeps a failing gateway from being hammered).
 */
export function retryServiceConfig(methods: readonly RetryableMethod[], maxAttempts = 4): string {
  return JSON.stringify({
    loadBalancingConfig: [],
    methodConfig: [
      {
        name: methods.map(({ service, method }) => ({ service, method })),
        retryPolicy: {
          maxAttempts,
          initialBackoff: '0.2s',
          maxBackoff: '3s',
          backoffMultiplier: 2,
          retryableStatusCodes: ['UNAVAILABLE'],
        },
      },
    ],
    retryThrottling: { maxTokens: 10, tokenRatio: 0.1 },
  });
}

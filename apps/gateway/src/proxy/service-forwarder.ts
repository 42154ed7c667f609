import { once } from 'node:events';
import {
  type Client,
  type ClientWritableStream,
  type Metadata,
  type MethodDefinition,
  type ServerReadableStream,
  type ServerWritableStream,
  type ServiceDefinition,
  type ServiceError,
} from '@grpc/grpc-js';
import { AppError, type CallContext, UpstreamError } from '@cairn/rpc';
import type { AccessRule } from './access-rules';
import type { GatewayCalls } from './gateway-calls';
import { deadlineOf } from './internal-clients';

/** What the forwarder asks of the gateway for each call; the policy lives elsewhere. */
export interface ForwardPolicy {
  /** Refuses (throws an AppError) a call its caller may not make. */
  authorize(ctx: CallContext, path: string, rule: AccessRule, req: unknown): Promise<void>;
  /** What the caller gets: search results filtered by READ, creators granted MANAGE, … */
  respond(ctx: CallContext, path: string, rule: AccessRule, req: unknown, res: unknown): Promise<unknown>;
  /** The metadata of the internal call: the caller's identity token for `audience`, trace context. */
  outbound(ctx: CallContext, audience: string): Promise<Metadata>;
  /** A run's experiment, as authorization resolves it (cached). */
  experimentOfRun(ctx: CallContext, runId: string): Promise<string>;
}

export interface ForwarderOptions {
  /** The internal service's name (the identity token's audience). */
  audience: string;
  client: Client;
  rules: ReadonlyMap<string, AccessRule>;
  policy: ForwardPolicy;
  /** The longest a forwarded call may run, whatever deadline the caller set (ms). */
  maxDeadlineMs: number;
  /** Unary and server-streaming calls go the one way every transport shares. */
  calls: GatewayCalls;
}

type Handler = (...args: never[]) => unknown;

/**
 * The implementation of a re-exported service: every method authorizes its call under its
 * access rule, then forwards it to the internal service with the caller's identity token,
 * the caller's deadline (capped) and cancellation, and passes back the result or the error.
 * Messages are decoded once (the rule reads them) and re-encoded with the same generated codec.
 */
export function forwardingImplementation(
  definition: ServiceDefinition,
  opts: ForwarderOptions,
): Record<string, Handler> {
  const impl: Record<string, Handler> = {};
  for (const [key, method] of Object.entries(definition) as Array<
    [string, MethodDefinition<unknown, unknown>]
  >) {
    const rule = opts.rules.get(method.path);
    if (!rule) throw new Error(`no access rule for ${method.path}: every re-exported RPC needs one`);
    const path = method.path;
    const serialize = method.requestSerialize;
    const deserialize = method.responseDeserialize;

    if (!method.requestStream && !method.responseStream) {
      impl[key] = (req: unknown, ctx: CallContext): Promise<unknown> => opts.calls.unary(method, req, ctx);
    } else if (method.requestStream && !method.responseStream) {
      impl[key] = (call: ServerReadableStream<unknown, unknown>, ctx: CallContext): Promise<unknown> =>
        forwardClientStream(call, ctx, path, rule, serialize, deserialize, opts);
    } else if (!method.requestStream && method.responseStream) {
      impl[key] = async (req: unknown, call: ServerWritableStream<unknown, unknown>, ctx: CallContext) => {
        const upstream = await opts.calls.serverStream(method, req, ctx);
        await new Promise<void>((resolve, reject) => {
          upstream.on('data', (msg: unknown) => {
            // Back-pressure: stop reading the service while the caller's buffer is full.
            if (!call.write(msg)) {
              upstream.pause();
              call.once('drain', () => upstream.resume());
            }
          });
          upstream.on('error', (err: ServiceError) => reject(UpstreamError.of(err)));
          upstream.on('end', () => resolve());
        });
      };
    } else {
      throw new Error(`${path}: bidirectional streaming is not re-exported`);
    }
  }
  return impl;
}

/**
 * A client stream: the first message is authorized (it names the run), every later one must
 * name the same resources or none, and messages flow to the service as they arrive, with
 * back-pressure both ways. A failure of the service ends the caller's stream at once.
 */
async function forwardClientStream(
  call: ServerReadableStream<unknown, unknown>,
  ctx: CallContext,
  path: string,
  rule: AccessRule,
  serialize: (v: unknown) => Buffer,
  deserialize: (b: Buffer) => unknown,
  opts: ForwarderOptions,
): Promise<unknown> {
  let upstream: ClientWritableStream<unknown> | undefined;
  let result: Promise<unknown> | undefined;
  let first: unknown;
  let scope = '';
  const open = async (msg: unknown) => {
    await opts.policy.authorize(ctx, path, rule, msg);
    first = msg;
    scope = JSON.stringify(rule.resources?.(msg) ?? []);
    const md = await opts.policy.outbound(ctx, opts.audience);
    result = new Promise<unknown>((resolve, reject) => {
      upstream = opts.client.makeClientStreamRequest(
        path,
        serialize,
        deserialize,
        md,
        { deadline: deadlineOf(ctx, opts.maxDeadlineMs) },
        (err, value) => {
          if (!err) return resolve(value);
          const failure = UpstreamError.of(err);
          // Stop reading the caller: the for-await below throws this.
          call.destroy(failure);
          reject(failure);
        },
      );
    });
    result.catch(() => undefined); // observed below, or via the destroyed stream
    ctx.signal.addEventListener('abort', () => upstream?.cancel(), { once: true });
  };
  try {
    for await (const msg of call as AsyncIterable<unknown>) {
      if (!upstream) {
        await open(msg);
      } else {
        const named = rule.resources?.(msg) ?? [];
        if (named.length > 0 && JSON.stringify(named) !== scope) {
          throw new AppError(
            'invalid_argument',
            'STREAM_SCOPE_CHANGED',
            'Every message of the stream must name the same resources as its first one.',
          );
        }
      }
      const up = upstream as unknown as ClientWritableStream<unknown>;
      if (!up.write(msg)) await once(up, 'drain');
    }
  } catch (err) {
    upstream?.cancel();
    throw err;
  }
  // An empty stream still reaches the service (it decides what an empty upload means).
  if (!upstream) await open({});
  (upstream as unknown as ClientWritableStream<unknown>).end();
  const res = await (result as Promise<unknown>);
  return opts.policy.respond(ctx, path, rule, first, res);
}

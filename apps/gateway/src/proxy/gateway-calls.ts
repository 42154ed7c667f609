import type { Client, ClientReadableStream, ClientWritableStream, MethodDefinition } from '@grpc/grpc-js';
import { type CallContext, UpstreamError } from '@cairn/rpc';
import { type AccessRule, PROXIED_SERVICES } from './access-rules';
import { deadlineOf, unaryCall } from './internal-clients';
import type { ForwardPolicy } from './service-forwarder';

export type InternalService = keyof typeof PROXIED_SERVICES;

export interface GatewayCallsOptions {
  clients: Record<InternalService, Client>;
  rules: ReadonlyMap<string, AccessRule>;
  policy: ForwardPolicy;
  /** The longest a forwarded call may run, whatever deadline the caller set (ms). */
  maxDeadlineMs: number;
}

/** An upload in progress: `write` resolves when the service can take more. */
export interface ClientStreamCall<Req, Res> {
  write(msg: Req): Promise<void>;
  /** Ends the stream and returns the service's answer, after the caller's policy (respond). */
  end(): Promise<Res>;
  cancel(): void;
}

/**
 * A re-exported method called on behalf of an authenticated caller, whatever the transport
 * (the public gRPC port, or the MLflow REST API translated onto it): the method's access rule
 * is applied by the forward policy, the call carries the caller's identity token, deadline and
 * cancellation, and the policy shapes the answer (search results filtered by READ, creators
 * granted MANAGE). There is no other way from the gateway to a service.
 */
export class GatewayCalls {
  private readonly audiences = new Map<string, InternalService>();

  constructor(private readonly opts: GatewayCallsOptions) {
    for (const [audience, definitions] of Object.entries(PROXIED_SERVICES) as Array<
      [InternalService, (typeof PROXIED_SERVICES)[InternalService]]
    >) {
      for (const definition of definitions) {
        for (const method of Object.values(definition) as Array<{ path: string }>) {
          this.audiences.set(method.path, audience);
        }
      }
    }
  }

  /** What every call passes: authorization before, the caller's view of the answer after. */
  get policy(): ForwardPolicy {
    return this.opts.policy;
  }

  /** A run's experiment, from the lookup authorization makes anyway (cached: runs never move). */
  experimentOfRun(ctx: CallContext, runId: string): Promise<string> {
    return this.opts.policy.experimentOfRun(ctx, runId);
  }

  /** The access rule of a re-exported method (every one has one). */
  ruleOf(path: string): AccessRule {
    const rule = this.opts.rules.get(path);
    if (!rule) throw new Error(`no access rule for ${path}: every re-exported RPC needs one`);
    return rule;
  }

  private route(path: string): { audience: InternalService; client: Client; rule: AccessRule } {
    const audience = this.audiences.get(path);
    if (!audience) throw new Error(`${path} is not a re-exported method`);
    return { audience, client: this.opts.clients[audience], rule: this.ruleOf(path) };
  }

  async unary<Req, Res>(method: MethodDefinition<Req, Res>, req: Req, ctx: CallContext): Promise<Res> {
    const { audience, client, rule } = this.route(method.path);
    await this.opts.policy.authorize(ctx, method.path, rule, req);
    // What the gateway says in the request (who the caller is) replaces what the caller said.
    const sent = rule.stamp && ctx.identity ? (rule.stamp(req, ctx.identity.principal) as Req) : req;
    const md = await this.opts.policy.outbound(ctx, audience);
    const res = await unaryCall(
      client,
      method,
      sent,
      md,
      deadlineOf(ctx, this.opts.maxDeadlineMs),
      ctx.signal,
    );
    return (await this.opts.policy.respond(ctx, method.path, rule, req, res)) as Res;
  }

  /** A server stream, authorized on its request; cancelled with the caller's signal. */
  async serverStream<Req, Res>(
    method: MethodDefinition<Req, Res>,
    req: Req,
    ctx: CallContext,
  ): Promise<ClientReadableStream<Res>> {
    const { audience, client, rule } = this.route(method.path);
    await this.opts.policy.authorize(ctx, method.path, rule, req);
    const md = await this.opts.policy.outbound(ctx, audience);
    const upstream = client.makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      req,
      md,
      { deadline: deadlineOf(ctx, this.opts.maxDeadlineMs) },
    );
    ctx.signal.addEventListener('abort', () => upstream.cancel(), { once: true });
    return upstream;
  }

  /**
   * A client stream, authorized on its first message (which names what the stream touches),
   * written with back-pressure. A failure of the service rejects the pending write or `end`.
   */
  async clientStream<Req, Res>(
    method: MethodDefinition<Req, Res>,
    first: Req,
    ctx: CallContext,
  ): Promise<ClientStreamCall<Req, Res>> {
    const { audience, client, rule } = this.route(method.path);
    await this.opts.policy.authorize(ctx, method.path, rule, first);
    const md = await this.opts.policy.outbound(ctx, audience);
    let failure: UpstreamError | undefined;
    let upstream: ClientWritableStream<Req> | undefined;
    const result = new Promise<Res>((resolve, reject) => {
      upstream = client.makeClientStreamRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        md,
        { deadline: deadlineOf(ctx, this.opts.maxDeadlineMs) },
        (err, value) => {
          if (!err) return resolve(value as Res);
          failure = UpstreamError.of(err);
          reject(failure);
        },
      );
    });
    result.catch(() => undefined); // observed by end(), or by a pending write
    const stream = upstream as unknown as ClientWritableStream<Req>;
    ctx.signal.addEventListener('abort', () => stream.cancel(), { once: true });
    const write = (msg: Req): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        if (failure) return reject(failure);
        if (stream.write(msg)) return resolve();
        // Wait for room, or for the call to fail (then `drain` never comes).
        const onDrain = () => resolve();
        stream.once('drain', onDrain);
        result.then(
          () => undefined,
          (err: unknown) => {
            stream.off('drain', onDrain);
            reject(err instanceof Error ? err : new Error(String(err)));
          },
        );
      });
    await write(first);
    return {
      write,
      end: async () => {
        stream.end();
        const res = await result;
        return (await this.opts.policy.respond(ctx, method.path, rule, first, res)) as Res;
      },
      cancel: () => stream.cancel(),
    };
  }
}

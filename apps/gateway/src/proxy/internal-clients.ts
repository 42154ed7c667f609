import { Client, credentials, type Metadata, type MethodDefinition } from '@grpc/grpc-js';
import { registryV1, trackingV1 } from '@cairn/proto';
import { type CallContext, UpstreamError } from '@cairn/rpc';
import type { ResourceLookups } from './forward-policy';

/** Channel options of the gateway's connections to the internal services. */
const CHANNEL_OPTIONS = {
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  // The gateway enforces the public limit; internally, pass whatever the services accept.
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
};

/** One channel per internal service, shared by every forwarded call and lookup. */
export function internalClient(address: string): Client {
  return new Client(address, credentials.createInsecure(), CHANNEL_OPTIONS);
}

/** The caller's deadline, capped at `maxMs` from now (the cap alone when the caller set none). */
export function deadlineOf(ctx: CallContext, maxMs: number): number {
  const cap = Date.now() + maxMs;
  return ctx.deadline !== undefined && Number.isFinite(ctx.deadline) ? Math.min(ctx.deadline, cap) : cap;
}

/** A unary call on `client` with a generated method definition. */
export function unaryCall<Req, Res>(
  client: Client,
  method: MethodDefinition<Req, Res>,
  req: Req,
  md: Metadata,
  deadline: number,
  signal?: AbortSignal,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    const call = client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      req,
      md,
      { deadline },
      (err, value) => (err ? reject(UpstreamError.of(err)) : resolve(value as Res)),
    );
    signal?.addEventListener('abort', () => call.cancel(), { once: true });
  });
}

/** Lookups for authorization decisions, made as the caller (their identity token) and bounded in time. */
export class InternalLookups implements ResourceLookups {
  constructor(
    private readonly tracking: Client,
    private readonly registry: Client,
    private readonly metadataFor: (ctx: CallContext, audience: string) => Promise<Metadata>,
    private readonly timeoutMs = 10_000,
  ) {}

  private deadline(ctx: CallContext): number {
    return deadlineOf(ctx, this.timeoutMs);
  }

  async experimentOfRun(ctx: CallContext, runId: string): Promise<string> {
    const res = await unaryCall(
      this.tracking,
      trackingV1.RunServiceService.getRun,
      trackingV1.GetRunRequest.fromPartial({ runId }),
      await this.metadataFor(ctx, 'tracking'),
      this.deadline(ctx),
      ctx.signal,
    );
    return res.run?.info?.experimentId ?? '';
  }

  async experimentIdByName(ctx: CallContext, name: string): Promise<string> {
    const res = await unaryCall(
      this.tracking,
      trackingV1.ExperimentServiceService.getExperimentByName,
      trackingV1.GetExperimentByNameRequest.fromPartial({ experimentName: name }),
      await this.metadataFor(ctx, 'tracking'),
      this.deadline(ctx),
      ctx.signal,
    );
    return res.experiment?.experimentId ?? '';
  }

  async modelOfTransitionRequest(ctx: CallContext, requestId: string): Promise<string> {
    const res = await unaryCall(
      this.registry,
      registryV1.GovernanceServiceService.getTransitionRequest,
      registryV1.GetTransitionRequestRequest.fromPartial({ requestId }),
      await this.metadataFor(ctx, 'registry'),
      this.deadline(ctx),
      ctx.signal,
    );
    return res.request?.name ?? '';
  }
}

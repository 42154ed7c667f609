/** Like ts-proto's own DeepPartial: what a request's `fromPartial` accepts. */
export type DeepPartial<T> = T extends Buffer | Uint8Array | string | number | boolean | undefined
  ? T
  : T extends Array<infer U>
    ? Array<DeepPartial<U>>
    : T extends { $case: string; value: unknown }
      ? { $case: T['$case']; value?: DeepPartial<T['value']> }
      : T extends object
        ? { [K in keyof T]?: DeepPartial<T[K]> }
        : Partial<T>;

/** Per-call options. */
export interface CallOptions {
  /** How long the call may take, in ms (the client's default for unary calls when unset). */
  readonly timeoutMs?: number;
  /** An absolute deadline; wins over `timeoutMs`. */
  readonly deadline?: Date | number;
  /** Cancels the call. */
  readonly signal?: AbortSignal;
}

/** A ts-proto grpc-js method definition, as far as the client uses it. */
export interface MethodDefinitionLike<Req, Res> {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly responseDeserialize: (value: Buffer) => Res;
}

type RequestOf<M> = M extends { requestSerialize: (value: infer Req) => Buffer } ? Req : never;
type ResponseOf<M> = M extends { responseDeserialize: (value: Buffer) => infer Res } ? Res : never;

/** Promise-returning versions of a generated service's unary methods, taking partial requests. */
export type UnaryApi<D> = {
  -readonly [K in keyof D as D[K] extends { requestStream: false; responseStream: false } ? K : never]: (
    request?: DeepPartial<RequestOf<D[K]>>,
    options?: CallOptions,
  ) => Promise<ResponseOf<D[K]>>;
};

/** Sends one unary call (the client's channel, metadata, deadline and error mapping). */
export type UnaryInvoker = <Req, Res>(
  method: MethodDefinitionLike<Req, Res>,
  request: Req,
  options?: CallOptions,
) => Promise<Res>;

interface Codec {
  fromPartial(object: unknown): unknown;
}

function isCodec(value: unknown): value is Codec {
  return typeof value === 'object' && value !== null && typeof (value as Codec).fromPartial === 'function';
}

/**
 * Builds the typed API of one generated service: each unary method completes its partial
 * request with the request message's `fromPartial` (found by name in `protoModule`, the
 * generated file's namespace, as `<Method>Request`) and hands it to `invoke`.
 */
export function unaryApi<D extends Record<string, MethodDefinitionLike<never, unknown>>>(
  definition: D,
  protoModule: object,
  invoke: UnaryInvoker,
): UnaryApi<D> {
  const api: Record<string, (request?: unknown, options?: CallOptions) => Promise<unknown>> = {};
  for (const [name, method] of Object.entries(definition)) {
    if (method.requestStream || method.responseStream) continue;
    const messageName = `${method.path.split('/')[2]}Request`;
    const codec: unknown = (protoModule as Record<string, unknown>)[messageName];
    // Caught by the SDK's unit tests for every service it exposes, not at a user's call.
    if (!isCodec(codec)) throw new Error(`no message ${messageName} for ${method.path}`);
    const generic = method as unknown as MethodDefinitionLike<unknown, unknown>;
    api[name] = (request, options) => invoke(generic, codec.fromPartial(request ?? {}), options);
  }
  return api as UnaryApi<D>;
}

import { Readable } from 'node:stream';
import { Inject, Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Metadata } from '@grpc/grpc-js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { CallContext, CallerIdentity } from '@cairn/rpc';
import { ROOT_LOGGER, SERVICE_VERSION } from '@cairn/service-runtime';
import { AuthGrpc } from '../auth/auth.grpc';
import { GatewayAuthenticator } from '../auth/gateway-authenticator';
import type { GatewayCalls } from '../proxy/gateway-calls';
import { GATEWAY_CALLS } from '../proxy/proxy.module';
import { MlflowArtifactsProxy } from './mlflow-artifacts';
import { MlflowError, mlflowErrorOf } from './mlflow-error';
import { MLFLOW_ROUTES } from './mlflow-routes';
import { RequestFields } from './mlflow-request';

/** The largest JSON body the API accepts (log-batch has its own, smaller, limit). */
const MAX_JSON_BODY_BYTES = 16 * 1024 * 1024;

/** The path prefixes MLflow clients and its UI use. */
const API_PREFIXES = ['/api/2.0/mlflow', '/ajax-api/2.0/mlflow'];
const ARTIFACT_PREFIXES = ['/api/2.0/mlflow-artifacts', '/ajax-api/2.0/mlflow-artifacts'];

interface RestDeps {
  calls: GatewayCalls;
  authenticator: GatewayAuthenticator;
  auth: AuthGrpc;
  logger: Logger;
}

/** The caller of an HTTP request, from its `authorization` header; 401 without credentials. */
async function callerOf(deps: RestDeps, request: FastifyRequest): Promise<CallerIdentity> {
  const identity = await deps.authenticator.authenticate({
    get: (name) => {
      const v = request.headers[name];
      return Array.isArray(v) ? v[0] : v;
    },
  });
  if (!identity) {
    throw new MlflowError(
      'UNAUTHENTICATED',
      'Authentication required: HTTP Basic (MLFLOW_TRACKING_USERNAME/PASSWORD) or a bearer token (an API key, MLFLOW_TRACKING_TOKEN).',
      'CREDENTIALS_REQUIRED',
    );
  }
  return identity;
}

/** A CallContext for an HTTP request: its work stops when the client goes away. */
function contextOf(request: FastifyRequest, reply: FastifyReply, identity: CallerIdentity): CallContext {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('client closed the request'));
  });
  return {
    metadata: new Metadata(),
    identity,
    signal: controller.signal,
    deadline: undefined,
    peer: request.ip,
  };
}

function sendError(deps: RestDeps, request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const e = mlflowErrorOf(err);
  if (e.httpStatus >= 500) deps.logger.error({ err, url: request.url }, 'mlflow rest: request failed');
  if (e.httpStatus === 401) void reply.header('www-authenticate', 'Basic realm="mlflow"');
  return reply.code(e.httpStatus).header('x-cairn-reason', e.reason).type('application/json').send(e.body);
}

/** Fastify's own refusals (a body over the limit, a bad header) in MLflow's error shape. */
function fastifyErrorHandler(deps: RestDeps) {
  return (err: Error & { statusCode?: number }, request: FastifyRequest, reply: FastifyReply) => {
    if (err.statusCode === 413) {
      return sendError(
        deps,
        request,
        reply,
        new MlflowError(
          'INVALID_PARAMETER_VALUE',
          `Request body exceeds ${MAX_JSON_BODY_BYTES} bytes.`,
          'BODY_TOO_LARGE',
        ),
      );
    }
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      return sendError(
        deps,
        request,
        reply,
        new MlflowError('BAD_REQUEST', err.message, 'MALFORMED_REQUEST'),
      );
    }
    return sendError(deps, request, reply, err);
  };
}

const notFound = (deps: RestDeps) => (request: FastifyRequest, reply: FastifyReply) =>
  sendError(
    deps,
    request,
    reply,
    new MlflowError(
      'ENDPOINT_NOT_FOUND',
      `No endpoint ${request.method} ${request.url.split('?')[0].slice(0, 200)}.`,
      'ENDPOINT_NOT_FOUND',
    ),
  );

function parseJsonBody(raw: Buffer | undefined): unknown {
  if (!raw || raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new MlflowError(
      'BAD_REQUEST',
      'Malformed request: the body is not valid JSON.',
      'MALFORMED_REQUEST',
    );
  }
}

/** `/api/2.0/mlflow/*`: every route of MLFLOW_ROUTES, JSON in and out. */
function apiPlugin(deps: RestDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    // Bodies are read as bytes and parsed here, whatever their content type (MLflow clients
    // do not all send one), so that a malformed body gets MLflow's error shape.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_JSON_BODY_BYTES }, (_req, body, done) =>
      done(null, body),
    );
    app.setErrorHandler(fastifyErrorHandler(deps));
    app.setNotFoundHandler(notFound(deps));
    for (const r of MLFLOW_ROUTES) {
      app.route({
        method: r.methods,
        url: `/${r.path}`,
        handler: async (request, reply) => {
          try {
            const body = request.body as Buffer | undefined;
            const fields = RequestFields.of(request.query, parseJsonBody(body));
            const identity = await callerOf(deps, request);
            const ctx = contextOf(request, reply, identity);
            const res = await r.handle({
              fields,
              ctx,
              calls: deps.calls,
              auth: deps.auth,
              bodyBytes: body?.length ?? 0,
            });
            return reply.type('application/json').send(res);
          } catch (err) {
            return sendError(deps, request, reply, err);
          }
        },
      });
    }
  };
}

/** `/api/2.0/mlflow-artifacts/*`: bodies are streamed through, never buffered. */
function artifactsPlugin(deps: RestDeps) {
  const proxy = new MlflowArtifactsProxy(deps.calls);
  return async (app: FastifyInstance): Promise<void> => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    app.setErrorHandler(fastifyErrorHandler(deps));
    app.setNotFoundHandler(notFound(deps));
    const handle =
      (work: (request: FastifyRequest, reply: FastifyReply, ctx: CallContext) => Promise<unknown>) =>
      async (request: FastifyRequest, reply: FastifyReply) => {
        try {
          const identity = await callerOf(deps, request);
          return await work(request, reply, contextOf(request, reply, identity));
        } catch (err) {
          return sendError(deps, request, reply, err);
        }
      };
    const pathOf = (request: FastifyRequest) => (request.params as { '*': string })['*'];
    app.get(
      '/artifacts',
      handle(async (request, reply, ctx) => {
        const fields = RequestFields.of(request.query, undefined);
        return reply.type('application/json').send(await proxy.list(fields.optString('path') ?? '', ctx));
      }),
    );
    app.get(
      '/artifacts/*',
      handle(async (request, reply, ctx) => {
        const { size, body } = await proxy.download(pathOf(request), ctx);
        return reply
          .header('content-length', String(size))
          .header('x-content-type-options', 'nosniff')
          .type('application/octet-stream')
          .send(Readable.from(body));
      }),
    );
    app.put(
      '/artifacts/*',
      handle(async (request, reply, ctx) => {
        const length = request.headers['content-length'];
        const size = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
        await proxy.upload(pathOf(request), request.body as Readable, size, ctx);
        return reply.type('application/json').send({});
      }),
    );
    app.delete(
      '/artifacts/*',
      handle(async (request, reply, ctx) => {
        await proxy.delete(pathOf(request), ctx);
        return reply.type('application/json').send({});
      }),
    );
  };
}

/**
 * Serves MLflow's REST API and its `mlflow-artifacts` proxy on the gateway's HTTP port, so that
 * an unchanged MLflow client (`MLFLOW_TRACKING_URI=http://<gateway>:8080`) works against Cairn.
 */
@Injectable()
class MlflowRestServer implements OnModuleInit {
  constructor(
    @Inject(HttpAdapterHost) private readonly host: HttpAdapterHost,
    @Inject(GATEWAY_CALLS) private readonly calls: GatewayCalls,
    @Inject(GatewayAuthenticator) private readonly authenticator: GatewayAuthenticator,
    @Inject(AuthGrpc) private readonly auth: AuthGrpc,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit(): void {
    const app = this.host.httpAdapter.getInstance<FastifyInstance>();
    const deps: RestDeps = {
      calls: this.calls,
      authenticator: this.authenticator,
      auth: this.auth,
      logger: this.logger.child({ component: 'mlflow-rest' }),
    };
    // MLflow's own liveness and version endpoints, unauthenticated as in MLflow (load balancers
    // and MLflow deployment charts probe /health).
    app.get('/health', (_request, reply) => reply.type('text/plain').send('OK'));
    app.get('/version', (_request, reply) => reply.type('text/plain').send(SERVICE_VERSION));
    for (const prefix of API_PREFIXES) void app.register(apiPlugin(deps), { prefix });
    for (const prefix of ARTIFACT_PREFIXES) void app.register(artifactsPlugin(deps), { prefix });
  }
}

/** The MLflow REST API; needs the auth feature and the proxy (GatewayCalls). */
@Module({ providers: [MlflowRestServer] })
export class MlflowRestModule {}

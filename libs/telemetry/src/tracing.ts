import { trace } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';

export type TracesExporter = 'none' | 'otlp' | 'console';

export interface TracingHandle {
  exporter: TracesExporter;
  shutdown(): Promise<void>;
}

let active: TracingHandle | undefined;

function exporterFrom(env: NodeJS.ProcessEnv): { kind: TracesExporter; exporter?: SpanExporter } {
  const kind = (env.OTEL_TRACES_EXPORTER ?? 'none') as TracesExporter;
  switch (kind) {
    case 'otlp':
      return {
        kind,
        exporter: new OTLPTraceExporter(
          env.OTEL_EXPORTER_OTLP_ENDPOINT
            ? { url: `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '')}/v1/traces` }
            : {},
        ),
      };
    case 'console':
      return { kind, exporter: new ConsoleSpanExporter() };
    case 'none':
      return { kind: 'none' };
    default:
      // Unknown values are reported by config validation; tracing itself stays off.
      return { kind: 'none' };
  }
}

/**
 * Sets up OpenTelemetry for one service process. It must run before @grpc/grpc-js, pg or
 * http are loaded so that their instrumentation can patch them; each app's `instrument.ts`
 * is therefore the first import of its `main.ts`.
 *
 * The tracer provider is registered even when no exporter is configured (the default), so
 * spans still carry trace ids into logs and propagate `traceparent` across calls; they are
 * simply not exported.
 */
export function startTracing(service: string, env: NodeJS.ProcessEnv = process.env): TracingHandle {
  if (active) return active;
  const { kind, exporter } = exporterFrom(env);
  const spanProcessors: SpanProcessor[] = exporter ? [new BatchSpanProcessor(exporter)] : [];
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: `cairn-${service}`,
      [ATTR_SERVICE_VERSION]: env.npm_package_version ?? '0.1.0',
    }),
    spanProcessors,
  });
  provider.register();
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => /^\/(healthz|readyz|metrics)/.test(req.url ?? ''),
      }),
      new GrpcInstrumentation({ ignoreGrpcMethods: ['Check', 'Watch'] }),
      new PgInstrumentation(),
    ],
  });
  active = { exporter: kind, shutdown: () => provider.shutdown() };
  return active;
}

/** The active trace and span ids, for log correlation. */
export function currentTraceIds(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const ctx = span.spanContext();
  return { trace_id: ctx.traceId, span_id: ctx.spanId };
}

import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Registry } from 'prom-client';
import { ReadinessRegistry } from '@cairn/telemetry';

/** Liveness, readiness and Prometheus metrics, on every service's HTTP port. */
@Controller()
export class ProbesController {
  constructor(
    @Inject(ReadinessRegistry) private readonly readiness: ReadinessRegistry,
    @Inject(Registry) private readonly metrics: Registry,
  ) {}

  /** The process is alive and its event loop turns; nothing else is checked. */
  @Get('healthz')
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(@Res() reply: FastifyReply): Promise<void> {
    const result = await this.readiness.evaluate();
    await reply
      .code(result.ready ? 200 : 503)
      .send({ status: result.ready ? 'ready' : 'not ready', checks: result.checks });
  }

  @Get('metrics')
  async prometheus(@Res() reply: FastifyReply): Promise<void> {
    await reply.header('content-type', this.metrics.contentType).send(await this.metrics.metrics());
  }
}

import { parseArgs } from 'node:util';
import { ConfigError, loadEventBusConfig } from '@cairn/config';
import { createEventBus, replayDeadLetters } from '@cairn/messaging';
import { createLogger } from '@cairn/telemetry';

const USAGE = `usage: npm run events:replay-dlq -- --topic <topic> [--reason <dlq_reason>] [--group <consumer group>] [--timeout-ms <ms>]

Republishes the dead letters of <topic> (read from <topic>.dlq) to <topic>, where every consumer
group sees them again; groups that had applied one already find it in their inbox. Run it after
fixing what made them fail. --reason replays only dead letters with that dlq_reason (e.g.
HANDLER_FAILED), --group only those dead-lettered by that consumer group; the others are skipped
and stay in the DLQ. Progress is kept in the consumer group cairn.dlq-replay.<topic>, so a second
run replays only what was dead-lettered since. The bus comes from the services' settings
(CAIRN_EVENT_BUS, CAIRN_EVENT_BUS_DATABASE_URL or DATABASE_URL, KAFKA_*).`;

/** `npm run events:replay-dlq`: exit 0 done, 2 bad usage, 78 bad configuration, 1 failure. */
export async function runReplayDeadLettersCli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let values: { topic?: string; reason?: string; group?: string; 'timeout-ms'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        topic: { type: 'string' },
        reason: { type: 'string' },
        group: { type: 'string' },
        'timeout-ms': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const timeoutMs = values['timeout-ms'] === undefined ? undefined : Number(values['timeout-ms']);
  if (!values.topic || (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0))) {
    process.stderr.write(
      `${values.topic ? '--timeout-ms must be a positive integer' : '--topic is required'}\n${USAGE}\n`,
    );
    return 2;
  }
  let config;
  try {
    config = loadEventBusConfig('replay-dlq', env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 78;
    }
    throw err;
  }
  const logger = createLogger('replay-dlq', 'warn');
  const bus = createEventBus(
    config.kind === 'postgres' ? { ...config, applicationName: 'cairn-replay-dlq' } : config,
    logger,
  );
  try {
    const { reason, group } = values;
    const result = await replayDeadLetters({
      bus,
      topic: values.topic,
      timeoutMs,
      filter: (m) =>
        (reason === undefined || m.headers.dlq_reason === reason) &&
        (group === undefined || m.headers.dlq_consumer_group === group),
    });
    process.stdout.write(
      `replayed ${result.replayed}, skipped ${result.skipped} dead letters of ${values.topic}\n`,
    );
    return 0;
  } catch (err) {
    process.stderr.write(`replay failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await bus.close();
  }
}

import { z } from 'zod';
import { booleanFlag, port, serviceSettings, toServiceSettings } from './common-settings';
import { ConfigError, loadConfig } from './load-config';

const valid = { DATABASE_URL: 'postgres://u:p@db:5432/cairn' };

describe('loadConfig', () => {
  it('applies defaults from the architecture when only the database is given', () => {
    const s = toServiceSettings('registry', loadConfig('registry', serviceSettings('registry'), valid));
    expect(s).toMatchObject({
      service: 'registry',
      grpcPort: 50062,
      httpPort: 9462,
      databaseSchema: 'registry',
      migrateOnStart: true,
      tracesExporter: 'none',
      logLevel: 'info',
    });
  });

  it('names every bad setting at once, with the value it got', () => {
    let error: unknown;
    try {
      loadConfig('tracking', serviceSettings('tracking'), {
        ...valid,
        CAIRN_TRACKING_GRPC_PORT: '0',
        CAIRN_TRACKING_HTTP_PORT: '80.5',
        LOG_LEVEL: 'loud',
        DATABASE_MIGRATE_ON_START: 'yes',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const e = error as ConfigError;
    expect(e.reason).toBe('CONFIG_INVALID');
    expect(e.issues.map((i) => i.setting).sort()).toEqual([
      'CAIRN_TRACKING_GRPC_PORT',
      'CAIRN_TRACKING_HTTP_PORT',
      'DATABASE_MIGRATE_ON_START',
      'LOG_LEVEL',
    ]);
    expect(e.message).toContain('CAIRN_TRACKING_GRPC_PORT: must be an integer between 1 and 65535 (got "0")');
    expect(e.message).toContain(
      'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
    );
  });

  it('says a required setting is required, and never echoes secrets', () => {
    expect(() => loadConfig('monitor', serviceSettings('monitor'), {})).toThrow(/DATABASE_URL: is required/);
    try {
      loadConfig('monitor', serviceSettings('monitor'), { DATABASE_URL: 'mysql://root:hunter2@db/x' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as Error).message).toContain('DATABASE_URL: must be a postgres:// or postgresql:// URL');
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('treats an empty variable as unset', () => {
    const schema = z.object({ P: port(1234) });
    expect(loadConfig('x', schema, { P: '' })).toEqual({ P: 1234 });
  });

  it('parses boolean flags strictly', () => {
    const schema = z.object({ F: booleanFlag(false) });
    expect(loadConfig('x', schema, { F: '1' }).F).toBe(true);
    expect(loadConfig('x', schema, { F: 'false' }).F).toBe(false);
    expect(() => loadConfig('x', schema, { F: 'maybe' })).toThrow(/F: must be one of true, false, 1, 0/);
  });
});

describe('event bus settings', () => {
  const settings = (env: Record<string, string>) =>
    toServiceSettings('tracking', loadConfig('tracking', serviceSettings('tracking'), { ...valid, ...env }));

  it('defaults to the Postgres log in the service database', () => {
    expect(settings({}).eventBus).toEqual({ kind: 'postgres', url: valid.DATABASE_URL });
    expect(settings({ CAIRN_EVENT_BUS_DATABASE_URL: 'postgres://bus@db2/cairn' }).eventBus).toEqual({
      kind: 'postgres',
      url: 'postgres://bus@db2/cairn',
    });
  });

  it('builds the Kafka settings, with SASL and replication', () => {
    expect(
      settings({
        CAIRN_EVENT_BUS: 'kafka',
        KAFKA_BROKERS: 'k1:9092,k2:9093',
        KAFKA_SSL: 'true',
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'cairn',
        KAFKA_SASL_PASSWORD: 's3cret',
      }).eventBus,
    ).toEqual({
      kind: 'kafka',
      brokers: ['k1:9092', 'k2:9093'],
      clientId: 'cairn-tracking',
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'cairn', password: 's3cret' },
      replicationFactor: 3,
      minInsyncReplicas: 2,
    });
  });

  it('names the missing or inconsistent Kafka settings', () => {
    let error: unknown;
    try {
      settings({ CAIRN_EVENT_BUS: 'kafka', KAFKA_SASL_MECHANISM: 'plain', KAFKA_REPLICATION_FACTOR: '1' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.setting).sort()).toEqual([
      'KAFKA_BROKERS',
      'KAFKA_MIN_INSYNC_REPLICAS',
      'KAFKA_SASL_PASSWORD',
      'KAFKA_SASL_USERNAME',
    ]);
    expect(() => settings({ CAIRN_EVENT_BUS: 'rabbit' })).toThrow(
      /CAIRN_EVENT_BUS: must be one of postgres, kafka/,
    );
    expect(() => settings({ CAIRN_EVENT_BUS: 'kafka', KAFKA_BROKERS: 'k1' })).toThrow(
      /KAFKA_BROKERS: must be a comma-separated list of host:port/,
    );
  });
});

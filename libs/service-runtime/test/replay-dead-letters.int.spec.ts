import { randomUUID } from 'node:crypto';
import { type IncomingMessage, PostgresEventBus } from '@cairn/messaging';
import { createTestDatabase, type TestDatabase, waitFor } from '@cairn/testing';
import { runReplayDeadLettersCli } from '../src/replay-dead-letters.cli';

describe('npm run events:replay-dlq', () => {
  let db: TestDatabase;
  let bus: PostgresEventBus;
  const silence = () => {
    const out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    return { out, err };
  };

  beforeAll(async () => {
    db = await createTestDatabase('replaydlq');
    bus = new PostgresEventBus({ connection: db.url });
  });
  afterAll(async () => {
    await bus?.close();
    await db?.drop();
  });
  afterEach(() => jest.restoreAllMocks());

  it('replays only the selected dead letters to their topic, without the dlq headers', async () => {
    const topic = `cairn.test.${randomUUID().slice(0, 8)}`;
    await bus.ensureTopics([
      { name: topic, partitions: 1 },
      { name: `${topic}.dlq`, partitions: 1 },
    ]);
    const dead = (reason: string, n: number) => ({
      topic: `${topic}.dlq`,
      key: 'k',
      value: JSON.stringify({ n }),
      headers: {
        ce_id: randomUUID(),
        dlq_reason: reason,
        dlq_original_topic: topic,
        dlq_consumer_group: 'g1',
      },
    });
    await bus.publish([dead('INVALID_DATA', 1), dead('HANDLER_FAILED', 2), dead('HANDLER_FAILED', 3)]);
    const { out } = silence();
    const code = await runReplayDeadLettersCli(['--topic', topic, '--reason', 'HANDLER_FAILED'], {
      DATABASE_URL: db.url,
    });
    expect(code).toBe(0);
    expect(out.mock.calls.map((c) => String(c[0])).join('')).toContain(
      `replayed 2, skipped 1 dead letters of ${topic}`,
    );
    jest.restoreAllMocks();

    const got: IncomingMessage[] = [];
    const sub = await bus.subscribe({
      groupId: `reader-${randomUUID()}`,
      topics: [topic],
      handleBatch: async (b) => {
        got.push(...b.messages);
      },
    });
    try {
      await waitFor('the replayed events', () => (got.length >= 2 ? true : undefined), 30_000);
      expect(got.map((m) => JSON.parse(m.value) as { n: number })).toEqual([{ n: 2 }, { n: 3 }]);
      expect(Object.keys(got[0].headers).filter((h) => h.startsWith('dlq_'))).toEqual([]);
    } finally {
      await sub.stop();
    }
    // Progress is kept: a second run finds nothing new.
    const again = silence().out;
    expect(await runReplayDeadLettersCli(['--topic', topic], { DATABASE_URL: db.url })).toBe(0);
    expect(again.mock.calls.map((c) => String(c[0])).join('')).toContain('replayed 0, skipped 0');
  });

  it('refuses bad usage (2) and bad configuration (78), naming what is wrong', async () => {
    const { err } = silence();
    expect(await runReplayDeadLettersCli([], { DATABASE_URL: db.url })).toBe(2);
    expect(
      await runReplayDeadLettersCli(['--topic', 't', '--timeout-ms', 'soon'], { DATABASE_URL: db.url }),
    ).toBe(2);
    expect(await runReplayDeadLettersCli(['--topic', 't'], { CAIRN_EVENT_BUS: 'kafka' })).toBe(78);
    const text = err.mock.calls.map((c) => String(c[0])).join('');
    expect(text).toContain('--topic is required');
    expect(text).toContain('--timeout-ms must be a positive integer');
    expect(text).toContain('KAFKA_BROKERS: is required when CAIRN_EVENT_BUS=kafka');
  });
});

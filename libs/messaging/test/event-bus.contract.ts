import { randomUUID } from 'node:crypto';
import { waitFor } from '@cairn/testing';
import type { EventBus, IncomingMessage, OutgoingMessage, Subscription } from '../src/event-bus.port';

/**
 * What every event-bus adapter must do, run against each real adapter (Kafka against the
 * librdkafka mock cluster, the Postgres log against the embedded Postgres).
 */
export interface EventBusFixture {
  bus: EventBus;
  /** Creates a topic the adapter can use (the Kafka mock cannot use admin calls). */
  createTopic(name: string, partitions: number): Promise<void>;
  /** A second, independent instance on the same backend (another process, in effect). */
  secondBus(): Promise<EventBus>;
}

const msg = (topic: string, key: string, seq: number): OutgoingMessage => ({
  topic,
  key,
  value: JSON.stringify({ key, seq }),
  headers: { ce_id: randomUUID(), seq: String(seq) },
});

const seqOf = (m: IncomingMessage) => (JSON.parse(m.value) as { seq: number }).seq;

export function describeEventBusContract(name: string, fixture: () => EventBusFixture): void {
  describe(`event bus contract: ${name}`, () => {
    const subs: Subscription[] = [];
    afterEach(async () => {
      await Promise.all(subs.splice(0).map((s) => s.stop()));
    });

    async function consume(
      bus: EventBus,
      groupId: string,
      topic: string,
      into: IncomingMessage[],
      opts: { startFrom?: 'earliest' | 'latest' } = {},
    ): Promise<Subscription> {
      const sub = await bus.subscribe({
        groupId,
        topics: [topic],
        startFrom: opts.startFrom,
        handleBatch: async (batch) => {
          into.push(...batch.messages);
        },
      });
      subs.push(sub);
      return sub;
    }

    const topicName = () => `contract.${randomUUID().slice(0, 8)}`;

    it('keeps per-key order and delivers headers, keys and values intact', async () => {
      const { bus, createTopic } = fixture();
      const topic = topicName();
      await createTopic(topic, 3);
      const keys = Array.from({ length: 8 }, (_, i) => `run-${i}`);
      for (let round = 0; round < 5; round++) {
        await bus.publish(keys.flatMap((k) => [msg(topic, k, round * 2), msg(topic, k, round * 2 + 1)]));
      }
      const got: IncomingMessage[] = [];
      await consume(bus, `g-${randomUUID()}`, topic, got);
      await waitFor('all 80 messages', () => (got.length >= 80 ? true : undefined), 30_000);
      expect(got).toHaveLength(80);
      for (const k of keys) {
        const seqs = got.filter((m) => m.key === k).map(seqOf);
        expect({ k, seqs }).toEqual({ k, seqs: Array.from({ length: 10 }, (_, i) => i) });
        const partitions = new Set(got.filter((m) => m.key === k).map((m) => m.partition));
        expect(partitions.size).toBe(1);
      }
      expect(got[0].headers.ce_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(got[0].headers.seq).toBe(String(seqOf(got[0])));
      expect(got[0].topic).toBe(topic);
      expect(got[0].timestamp).toBeGreaterThan(Date.now() - 120_000);
      expect(new Set(got.map((m) => m.partition)).size).toBeGreaterThan(1);
    });

    it('delivers every message to each of two consumer groups', async () => {
      const { bus, createTopic } = fixture();
      const topic = topicName();
      await createTopic(topic, 2);
      await bus.publish(Array.from({ length: 20 }, (_, i) => msg(topic, `k${i % 4}`, i)));
      const a: IncomingMessage[] = [];
      const b: IncomingMessage[] = [];
      await consume(bus, `ga-${randomUUID()}`, topic, a);
      await consume(bus, `gb-${randomUUID()}`, topic, b);
      await waitFor(
        'both groups to see 20',
        () => (a.length >= 20 && b.length >= 20 ? true : undefined),
        30_000,
      );
      expect(a.map(seqOf).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(b.map(seqOf).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    });

    it('resumes a group from its committed position, and replays after resetOffsets', async () => {
      const { bus, createTopic } = fixture();
      const topic = topicName();
      const group = `g-${randomUUID()}`;
      await createTopic(topic, 2);
      await bus.publish(Array.from({ length: 10 }, (_, i) => msg(topic, `k${i % 3}`, i)));
      const first: IncomingMessage[] = [];
      const sub = await consume(bus, group, topic, first);
      await waitFor('the first 10', () => (first.length >= 10 ? true : undefined), 30_000);
      await sub.stop();
      await waitFor('the committed position to reach the end', async () => {
        const lag = await bus.lag(group, topic);
        return lag.reduce((s, l) => s + l.lag, 0) === 0 ? true : undefined;
      });

      await bus.publish(Array.from({ length: 5 }, (_, i) => msg(topic, `k${i % 3}`, 10 + i)));
      expect((await bus.lag(group, topic)).reduce((s, l) => s + l.lag, 0)).toBe(5);
      const second: IncomingMessage[] = [];
      const sub2 = await consume(bus, group, topic, second);
      await waitFor('the 5 new ones', () => (second.length >= 5 ? true : undefined), 30_000);
      await sub2.stop();
      expect(second.map(seqOf).sort((x, y) => x - y)).toEqual([10, 11, 12, 13, 14]);

      await bus.resetOffsets(group, topic, 'earliest');
      const replay: IncomingMessage[] = [];
      await consume(bus, group, topic, replay);
      await waitFor('the replay of all 15', () => (replay.length >= 15 ? true : undefined), 30_000);
      expect(replay.map(seqOf).sort((x, y) => x - y)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    });

    it('redelivers what a failing handler did not resolve, and nothing it did', async () => {
      const { bus, createTopic } = fixture();
      const topic = topicName();
      await createTopic(topic, 1);
      await bus.publish(Array.from({ length: 10 }, (_, i) => msg(topic, 'one-key', i)));
      const seen: number[] = [];
      let failed = false;
      const sub = await bus.subscribe({
        groupId: `g-${randomUUID()}`,
        topics: [topic],
        handleBatch: async (batch, ctx) => {
          for (const m of batch.messages) {
            if (seqOf(m) === 5 && !failed) {
              failed = true;
              throw new Error('transient failure');
            }
            seen.push(seqOf(m));
            ctx.resolveOffset(m.offset);
          }
        },
      });
      subs.push(sub);
      await waitFor('all 10 handled', () => (seen.length >= 10 ? true : undefined), 30_000);
      expect(failed).toBe(true);
      expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('shares partitions among the members of one group, each message to one member', async () => {
      const f = fixture();
      const topic = topicName();
      const group = `g-${randomUUID()}`;
      await f.createTopic(topic, 4);
      const other = await f.secondBus();
      const a: IncomingMessage[] = [];
      const b: IncomingMessage[] = [];
      await consume(f.bus, group, topic, a);
      await consume(other, group, topic, b);
      // Publish after both joined, over many keys so every partition gets some.
      await waitFor('both members to be running', () => (subs.every((s) => s.running) ? true : undefined));
      await f.bus.publish(Array.from({ length: 40 }, (_, i) => msg(topic, `key-${i}`, i)));
      await waitFor('40 delivered in all', () => (a.length + b.length >= 40 ? true : undefined), 60_000);
      const all = [...a, ...b].map(seqOf).sort((x, y) => x - y);
      expect(all).toEqual(Array.from({ length: 40 }, (_, i) => i));
      expect(a.length).toBeGreaterThan(0);
      expect(b.length).toBeGreaterThan(0);
      const partitionsA = new Set(a.map((m) => m.partition));
      expect(b.some((m) => partitionsA.has(m.partition))).toBe(false);
      await Promise.all(subs.splice(0).map((s) => s.stop()));
      await other.close();
    });

    it('starts a new group at the end when asked for latest', async () => {
      const { bus, createTopic } = fixture();
      const topic = topicName();
      await createTopic(topic, 1);
      await bus.publish([msg(topic, 'k', 0), msg(topic, 'k', 1)]);
      const got: IncomingMessage[] = [];
      const sub = await consume(bus, `g-${randomUUID()}`, topic, got, { startFrom: 'latest' });
      await waitFor('the subscription to run', () => (sub.running ? true : undefined));
      await bus.publish([msg(topic, 'k', 2)]);
      await waitFor('the new message', () => (got.length >= 1 ? true : undefined), 30_000);
      expect(got.map(seqOf)).toEqual([2]);
    });
  });
}

import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase, waitFor } from '@cairn/testing';
import { Client, Pool } from 'pg';
import type { IncomingMessage, OutgoingMessage, Subscription } from '../src/event-bus.port';
import { PostgresEventBus, partitionForKey } from '../src/postgres-bus';
import type { BusLogger, PostgresEventBusOptions } from '../src/postgres-bus';
import { GroupMember, type MemberHost } from '../src/postgres-bus/group-member';
import { describeEventBusContract, type EventBusFixture } from './event-bus.contract';

let db: TestDatabase;
let bus: PostgresEventBus;
const buses: PostgresEventBus[] = [];
const subs: Subscription[] = [];

/** For buses whose failures are the point of the test. */
const silent: BusLogger = { warn: () => undefined, error: () => undefined };

function newBus(opts: Partial<PostgresEventBusOptions> = {}): PostgresEventBus {
  const b = new PostgresEventBus({ connection: db.url, ...opts });
  buses.push(b);
  return b;
}

beforeAll(async () => {
  db = await createTestDatabase('bus');
  bus = newBus();
  await bus.migrate();
});

afterEach(async () => {
  await Promise.all(subs.splice(0).map((s) => s.stop()));
});

afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  await db?.drop();
});

describeEventBusContract('postgres', (): EventBusFixture => ({
  bus,
  createTopic: (name, partitions) => bus.ensureTopics([{ name, partitions }]),
  secondBus: async () => newBus(),
}));

const topicName = () => `pg.${randomUUID().slice(0, 8)}`;
const groupName = () => `g-${randomUUID()}`;
const msg = (
  topic: string,
  key: string,
  seq: number,
  extra: Record<string, string> = {},
): OutgoingMessage => ({
  topic,
  key,
  value: JSON.stringify({ key, seq }),
  headers: { seq: String(seq), ...extra },
});
const seqOf = (m: IncomingMessage) => (JSON.parse(m.value) as { seq: number }).seq;
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

async function sql<T extends object>(text: string, values: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

async function collect(
  b: PostgresEventBus,
  groupId: string,
  topic: string,
  into: IncomingMessage[],
  startFrom?: 'earliest' | 'latest',
): Promise<Subscription> {
  const sub = await b.subscribe({
    groupId,
    topics: [topic],
    startFrom,
    handleBatch: async (batch) => {
      into.push(...batch.messages);
    },
  });
  subs.push(sub);
  return sub;
}

async function terminateSessions(applicationName: string): Promise<number> {
  const rows = await sql<{ pid: number; query: string }>(
    `SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
    [applicationName],
  );
  await sql(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
    [applicationName],
  );
  return rows.length;
}

async function listenerPid(applicationName: string): Promise<number | undefined> {
  const rows = await sql<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity
     WHERE datname = current_database() AND application_name = $1 AND query LIKE 'LISTEN%'`,
    [applicationName],
  );
  return rows[0]?.pid;
}

async function owners(groupId: string, topic: string): Promise<Map<string | null, number[]>> {
  const rows = await sql<{ owner: string | null; partition: number }>(
    `SELECT owner, partition FROM bus.group_partitions WHERE group_id = $1 AND topic = $2 ORDER BY partition`,
    [groupId, topic],
  );
  const byOwner = new Map<string | null, number[]>();
  for (const r of rows) byOwner.set(r.owner, [...(byOwner.get(r.owner) ?? []), r.partition]);
  return byOwner;
}

describe('PostgresEventBus (adapter specifics)', () => {
  it('migrates idempotently, also from several processes at once', async () => {
    const fresh = await createTestDatabase('busmig');
    const racers = [1, 2, 3].map(() => new PostgresEventBus({ connection: fresh.url }));
    try {
      await Promise.all(racers.map((b) => b.migrate()));
      await racers[0].ensureTopics([{ name: 'x', partitions: 2 }]);
      await new PostgresEventBus({ connection: racers[0].pool }).migrate();
      const rows = (await racers[0].pool.query<{ version: number }>('SELECT version FROM bus.migrations'))
        .rows;
      expect(rows.map((r) => r.version)).toEqual([1]);
      const topics = (await racers[0].pool.query<{ n: string }>('SELECT count(*) AS n FROM bus.partitions'))
        .rows;
      expect(topics[0].n).toBe('2');
    } finally {
      await Promise.all(racers.map((b) => b.close()));
      await fresh.drop();
    }
  });

  it('keeps the partition count of an existing topic and rejects unknown topics', async () => {
    const topic = topicName();
    await bus.ensureTopics([{ name: topic, partitions: 3 }]);
    await bus.ensureTopics([{ name: topic, partitions: 8 }]);
    const rows = await sql<{ partition: number }>(
      `SELECT partition FROM bus.partitions WHERE topic = $1 ORDER BY 1`,
      [topic],
    );
    expect(rows.map((r) => r.partition)).toEqual([0, 1, 2]);
    await bus.publish(range(30).map((i) => msg(topic, `k${i}`, i)));
    const used = await sql<{ partition: number }>(
      `SELECT DISTINCT partition FROM bus.messages WHERE topic = $1`,
      [topic],
    );
    expect(used.every((r) => r.partition < 3)).toBe(true);

    await expect(bus.publish([msg('no.such.topic', 'k', 0)])).rejects.toMatchObject({
      code: 'BUS_UNKNOWN_TOPIC',
    });
    await expect(bus.ensureTopics([{ name: 'bad topic!', partitions: 1 }])).rejects.toMatchObject({
      code: 'BUS_INVALID_TOPIC',
    });
  });

  it('assigns gapless offsets in commit order under concurrent publishers', async () => {
    const topic = topicName();
    await bus.ensureTopics([{ name: topic, partitions: 4 }]);
    const publishers = 10;
    const perCall = 50;
    const total = publishers * perCall;

    // A reader running while they publish must only ever see a contiguous prefix 0..k-1.
    let publishing = true;
    const gaps: string[] = [];
    const reader = (async () => {
      let reads = 0;
      while (publishing || reads === 0) {
        const { rows } = await bus.pool.query<{ offset: string }>(
          `SELECT "offset" FROM bus.messages WHERE topic = $1 AND partition = $2 ORDER BY "offset"`,
          [topic, partitionForKey('one-key', 4)],
        );
        rows.forEach((r, i) => {
          if (r.offset !== String(i)) gaps.push(`saw ${r.offset} at ${i}`);
        });
        reads++;
      }
      return reads;
    })();

    // Each call also writes other keys, in a different order, so calls lock several
    // partition heads (deadlock check).
    await Promise.all(
      range(publishers).map((p) =>
        bus.publish(
          range(perCall).flatMap((i) => {
            const own = msg(topic, 'one-key', p * 1000 + i, { publisher: String(p) });
            const other = msg(topic, `other-${(p * 7 + i) % 13}`, -1);
            return p % 2 === 0 ? [own, other] : [other, own];
          }),
        ),
      ),
    );
    publishing = false;
    expect(await reader).toBeGreaterThan(0);
    expect(gaps).toEqual([]);

    const stored = await sql<{ partition: number; offset: string; seq: number }>(
      `SELECT partition, "offset", (value::jsonb ->> 'seq')::int AS seq FROM bus.messages
       WHERE topic = $1 AND key = 'one-key' ORDER BY "offset"`,
      [topic],
    );
    expect(new Set(stored.map((r) => r.partition)).size).toBe(1);
    // 'one-key' shares its partition with some 'other-*' keys, so its offsets are increasing
    // but the partition's offsets as a whole must be exactly 0..n-1.
    const partition = stored[0].partition;
    const all = await sql<{ offset: string }>(
      `SELECT "offset" FROM bus.messages WHERE topic = $1 AND partition = $2 ORDER BY "offset"`,
      [topic, partition],
    );
    expect(all.map((r) => Number(r.offset))).toEqual(range(all.length));
    // Every publisher's messages are stored in the order it gave them.
    for (let p = 0; p < publishers; p++) {
      const seqs = stored.map((r) => r.seq).filter((s) => Math.floor(s / 1000) === p);
      expect(seqs).toEqual(range(perCall, p * 1000));
    }
    expect(stored).toHaveLength(total);

    const got: IncomingMessage[] = [];
    await collect(bus, groupName(), topic, got);
    await waitFor(
      'the consumer to read everything',
      () => (got.length >= total * 2 ? true : undefined),
      30_000,
    );
    const mine = got.filter((m) => m.partition === partition).map((m) => Number(m.offset));
    expect(mine).toEqual(range(all.length));
  });

  it('still delivers through polling while the LISTEN session is down', async () => {
    const app = `bus-poll-${randomUUID().slice(0, 8)}`;
    // The listener stays down for a minute after it is killed: only polling can deliver.
    const b = newBus({
      applicationName: app,
      pollIntervalMs: 200,
      listenReconnect: { initialMs: 60_000, maxMs: 60_000 },
      logger: silent,
    });
    const topic = topicName();
    await b.ensureTopics([{ name: topic, partitions: 2 }]);
    const got: IncomingMessage[] = [];
    await collect(b, groupName(), topic, got);
    await waitFor('the LISTEN session', () => listenerPid(`${app}:listen`));
    expect(b.listening).toBe(true);

    expect(await terminateSessions(`${app}:listen`)).toBe(1);
    await waitFor('the bus to notice', () => (b.listening ? undefined : true));
    await b.publish([msg(topic, 'a', 1), msg(topic, 'b', 2)]);
    await waitFor('delivery by polling', () => (got.length >= 2 ? true : undefined), 10_000);
    expect(got.map(seqOf).sort()).toEqual([1, 2]);
    expect(b.listening).toBe(false);
    expect(await listenerPid(`${app}:listen`)).toBeUndefined();
  });

  it('reconnects a dropped LISTEN session and is woken by NOTIFY again', async () => {
    const app = `bus-notify-${randomUUID().slice(0, 8)}`;
    // Polling every minute: anything delivered within seconds came through NOTIFY.
    const b = newBus({
      applicationName: app,
      pollIntervalMs: 60_000,
      listenReconnect: { initialMs: 50, maxMs: 200 },
      logger: silent,
    });
    const topic = topicName();
    await b.ensureTopics([{ name: topic, partitions: 2 }]);
    const got: IncomingMessage[] = [];
    await collect(b, groupName(), topic, got);
    const firstPid = await waitFor('the LISTEN session', () => listenerPid(`${app}:listen`));

    await b.publish([msg(topic, 'a', 1)]);
    await waitFor('delivery by NOTIFY', () => (got.length >= 1 ? true : undefined), 5_000);

    expect(await terminateSessions(`${app}:listen`)).toBe(1);
    const secondPid = await waitFor('a new LISTEN session', async () => {
      const pid = await listenerPid(`${app}:listen`);
      return pid !== undefined && pid !== firstPid ? pid : undefined;
    });
    expect(secondPid).not.toBe(firstPid);
    await b.publish([msg(topic, 'b', 2)]);
    await waitFor('delivery by NOTIFY after reconnecting', () => (got.length >= 2 ? true : undefined), 5_000);
    expect(got.map(seqOf)).toEqual([1, 2]);
  });

  it('wakes every group reading a partition through one bus instance', async () => {
    // Polling every minute, idle workers re-check every 30 s: only NOTIFY delivers within seconds.
    const b = newBus({ pollIntervalMs: 60_000 });
    const topic = topicName();
    await b.ensureTopics([{ name: topic, partitions: 1 }]);
    const first: IncomingMessage[] = [];
    const second: IncomingMessage[] = [];
    const subA = await collect(b, groupName(), topic, first);
    const subB = await collect(b, groupName(), topic, second);
    await waitFor('both running', () => (subA.running && subB.running ? true : undefined));
    await b.publish([msg(topic, 'k', 1)]);
    await waitFor('both groups', () => (first.length >= 1 && second.length >= 1 ? true : undefined), 5_000);
    await b.publish([msg(topic, 'k', 2)]);
    await waitFor(
      'both groups again',
      () => (first.length >= 2 && second.length >= 2 ? true : undefined),
      5_000,
    );
    expect([first.map(seqOf), second.map(seqOf)]).toEqual([
      [1, 2],
      [1, 2],
    ]);
  });

  it("takes over a dead member's partitions after its session expires, redelivering what it did not commit", async () => {
    const timings = { sessionTimeoutMs: 3_000, heartbeatIntervalMs: 500 };
    const topic = topicName();
    const group = groupName();
    await bus.ensureTopics([{ name: topic, partitions: 4 }]);

    const dyingApp = `bus-dying-${randomUUID().slice(0, 8)}`;
    const dyingPool = new Pool({ connectionString: db.url, application_name: dyingApp, max: 4 });
    dyingPool.on('error', () => undefined); // its sessions are about to be killed
    const dying = new PostgresEventBus({ connection: dyingPool, ...timings, logger: silent });
    buses.push(dying);
    const survivor = newBus(timings);

    // The dying member handles its first batch per partition and never returns (so never commits).
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seenByDying: IncomingMessage[] = [];
    const dyingSignals: AbortSignal[] = [];
    const dyingSub = await dying.subscribe({
      groupId: group,
      topics: [topic],
      handleBatch: async (batch, ctx) => {
        seenByDying.push(...batch.messages);
        dyingSignals.push(ctx.signal);
        await gate;
        throw new Error('crashed');
      },
    });
    subs.push(dyingSub);
    const got: Array<IncomingMessage & { at: number }> = [];
    const survivorSub = await survivor.subscribe({
      groupId: group,
      topics: [topic],
      handleBatch: async (batch) => {
        got.push(...batch.messages.map((m) => ({ ...m, at: Date.now() })));
      },
    });
    subs.push(survivorSub);
    await waitFor('both members to hold two partitions', async () => {
      const o = await owners(group, topic);
      return dyingSub.running &&
        survivorSub.running &&
        o.size === 2 &&
        [...o.values()].every((ps) => ps.length === 2)
        ? o
        : undefined;
    });

    await bus.publish(range(40).map((i) => msg(topic, `key-${i}`, i)));
    // It owns two partitions and blocks in the first batch of each.
    await waitFor('the dying member to be stuck in a batch of both its partitions', () =>
      new Set(seenByDying.map((m) => m.partition)).size === 2 ? true : undefined,
    );
    const dyingPartitions = new Set(seenByDying.map((m) => m.partition));
    await waitFor('the survivor to handle its own two partitions', () =>
      got.filter((m) => !dyingPartitions.has(m.partition)).length > 0 ? true : undefined,
    );
    expect(got.some((m) => dyingPartitions.has(m.partition))).toBe(false);

    // Kill it: no more heartbeats, no leave, no release of its leases.
    const killedAt = Date.now();
    const ended = dyingPool.end();
    await terminateSessions(dyingApp);

    await waitFor(
      'the survivor to have all 40',
      () => (new Set(got.map(seqOf)).size >= 40 ? true : undefined),
      30_000,
    );
    expect([...new Set(got.map(seqOf))].sort((a, b) => a - b)).toEqual(range(40));
    // Nothing the dead member saw but did not commit is lost.
    for (const m of seenByDying) expect(got.some((g) => seqOf(g) === seqOf(m))).toBe(true);
    // Taken over only after expiry (last heartbeat <= kill time, session 3 s, heartbeat 0.5 s).
    const takeover = Math.min(...got.filter((m) => dyingPartitions.has(m.partition)).map((m) => m.at));
    expect(takeover - killedAt).toBeGreaterThanOrEqual(
      timings.sessionTimeoutMs - timings.heartbeatIntervalMs - 300,
    );
    // Redelivered in offset order per partition.
    for (const p of dyingPartitions) {
      const offsets = got.filter((m) => m.partition === p).map((m) => Number(m.offset));
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    }
    // The dead member itself noticed its session was gone and aborted its batches.
    await waitFor('the dead member to abort its batches', () =>
      dyingSignals.length >= 2 && dyingSignals.every((s) => s.aborted) ? true : undefined,
    );
    expect(dyingSub.running).toBe(false);
    await waitFor('the survivor to commit everything', async () => {
      const lag = await survivor.lag(group, topic);
      return lag.every((l) => l.lag === 0) ? true : undefined;
    });

    release();
    await dying.close();
    await ended;
  });

  it('hands a revoked partition over when a member joins: aborts the batch, redelivers what was not resolved', async () => {
    const topic = topicName();
    const group = groupName();
    await bus.ensureTopics([{ name: topic, partitions: 2 }]);
    const first = newBus({ sessionTimeoutMs: 30_000 });
    const second = newBus({ sessionTimeoutMs: 30_000 });
    await first.publish(range(20).map((i) => msg(topic, `k${i}`, i)));

    // The first member resolves nothing and waits until its partition is taken away.
    const aborted: number[] = [];
    const firstSeen: IncomingMessage[] = [];
    const firstSub = await first.subscribe({
      groupId: group,
      topics: [topic],
      handleBatch: async (batch, ctx) => {
        firstSeen.push(...batch.messages);
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener('abort', () => resolve(), { once: true }),
        );
        aborted.push(batch.partition);
      },
    });
    subs.push(firstSub);
    await waitFor('both partitions in flight', () =>
      new Set(firstSeen.map((m) => m.partition)).size === 2 ? true : undefined,
    );

    const secondSeen: IncomingMessage[] = [];
    const joinedAt = Date.now();
    await collect(second, group, topic, secondSeen);
    await waitFor('one partition revoked', () => (aborted.length === 1 ? true : undefined), 10_000);
    const moved = aborted[0];
    const expectedMoved = firstSeen
      .filter((m) => m.partition === moved)
      .map(seqOf)
      .sort((a, b) => a - b);
    await waitFor('the moved partition redelivered', () =>
      secondSeen.filter((m) => m.partition === moved).length >= expectedMoved.length ? true : undefined,
    );
    // Well before a 30 s session timeout: the first member released it at once.
    expect(Date.now() - joinedAt).toBeLessThan(10_000);
    expect(secondSeen.map(seqOf).sort((a, b) => a - b)).toEqual(expectedMoved);
    expect(secondSeen.every((m) => m.partition === moved)).toBe(true);
    // The batch returned after its signal aborted, without resolving: nothing was committed.
    const o = await owners(group, topic);
    expect(o.size).toBe(2);
  });

  it('does not count a joining member as running before it holds its share, when its bus first listens mid-join', async () => {
    const topic = topicName();
    const group = groupName();
    await bus.ensureTopics([{ name: topic, partitions: 2 }]);
    await bus.publish(range(20).map((i) => msg(topic, `k${i}`, i)));
    // The first member holds both partitions in batches that ignore their abort signal, so it
    // cannot hand one over until the gate opens.
    const first = newBus({ sessionTimeoutMs: 30_000 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const signals = new Map<number, AbortSignal>();
    subs.push(
      await first.subscribe({
        groupId: group,
        topics: [topic],
        handleBatch: async (batch, ctx) => {
          signals.set(batch.partition, ctx.signal);
          await gate;
        },
      }),
    );
    await waitFor('both partitions in flight', () => (signals.size === 2 ? true : undefined));

    // The second member's bus opens its first LISTEN session during the join and announces it
    // (onListenerReconnected) before the member's row exists, as PostgresEventBus does. A
    // rebalance started then (it starts synchronously) would race the membership insert; the
    // member must not start one at all, which is checked right there, without waiting on the race.
    const pool = new Pool({ connectionString: db.url, max: 4 });
    let rebalanceBeforeRow: boolean | undefined;
    const got: IncomingMessage[] = [];
    const joining: { member?: GroupMember } = {};
    const host: MemberHost = {
      pool,
      logger: silent,
      heartbeatIntervalMs: 200,
      sessionTimeoutMs: 30_000,
      drainTimeoutMs: 30_000,
      retry: { initialMs: 50, maxMs: 500 },
      topicPartitions: async (topics) =>
        new Map(
          (
            await pool.query<{ name: string; partitions: number }>(
              'SELECT name, partitions FROM bus.topics WHERE name = ANY($1::text[])',
              [topics],
            )
          ).rows.map((r) => [r.name, r.partitions]),
        ),
      listen: async () => {
        const member = joining.member!;
        member.onListenerReconnected();
        rebalanceBeforeRow =
          (member as unknown as { rebalanceLoop?: Promise<void> }).rebalanceLoop !== undefined;
      },
      unlisten: () => undefined,
      workerStarted: () => undefined,
      workerEnded: () => undefined,
      memberEnded: () => undefined,
    };
    const second = new GroupMember(host, {
      groupId: group,
      topics: [topic],
      handleBatch: async (batch) => {
        got.push(...batch.messages);
      },
    });
    joining.member = second;
    try {
      await second.join();
      expect(rebalanceBeforeRow).toBe(false);
      // Its share is still held by the first member: not running (readiness), nothing owned.
      expect(second.ownedPartitions).toEqual([]);
      expect(second.running).toBe(false);
      // The first member hands that partition over: it aborts its batch there, which holds on.
      const handedOver = await waitFor(
        'the first member to revoke one of its batches',
        () => [...signals].find(([, signal]) => signal.aborted)?.[0],
      );
      expect(second.running).toBe(false);

      release();
      await waitFor('the second member to hold its share and run', () => (second.running ? true : undefined));
      expect(second.ownedPartitions).toEqual([{ topic, partition: handedOver }]);
      // Nothing of that batch was committed: the second member gets it again.
      await waitFor('the handed-over batch redelivered', () => (got.length > 0 ? true : undefined));
      expect(got.every((m) => m.partition === handedOver)).toBe(true);
    } finally {
      release();
      await second.stop();
      await pool.end();
    }
  });

  it('does not let a member that lost its lease move the position', async () => {
    const topic = topicName();
    const group = groupName();
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
    await bus.publish(range(10).map((i) => msg(topic, 'k', i)));
    // Long heartbeat interval: the member will not notice the takeover by itself before committing.
    const b = newBus({ heartbeatIntervalMs: 10_000, sessionTimeoutMs: 30_000, logger: silent });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const batches: Array<{ first: string; signal: AbortSignal }> = [];
    const sub = await b.subscribe({
      groupId: group,
      topics: [topic],
      handleBatch: async (batch, ctx) => {
        batches.push({ first: batch.messages[0].offset, signal: ctx.signal });
        await gate;
        ctx.resolveOffset(batch.messages[batch.messages.length - 1].offset);
      },
    });
    subs.push(sub);
    await waitFor('the batch in flight', () => (batches.length === 1 ? true : undefined));

    // Another live member takes the lease (as after our session had expired).
    await sql(
      `INSERT INTO bus.members (group_id, member_id, topics, expires_at) VALUES ($1, 'usurper', ARRAY['elsewhere'], now() + interval '1 hour')`,
      [group],
    );
    await sql(`UPDATE bus.group_partitions SET owner = 'usurper' WHERE group_id = $1 AND topic = $2`, [
      group,
      topic,
    ]);
    release();

    await waitFor('the member to notice and abort its batch', () =>
      batches[0].signal.aborted ? true : undefined,
    );
    const [row] = await sql<{ committed: string; owner: string }>(
      `SELECT committed, owner FROM bus.group_partitions WHERE group_id = $1 AND topic = $2`,
      [group, topic],
    );
    expect(row).toEqual({ committed: '0', owner: 'usurper' });
    expect(await bus.lag(group, topic)).toEqual([{ partition: 0, lag: 10 }]);
    expect(batches).toHaveLength(1);
  });

  it('gives a stopping member’s partitions to the others at once', async () => {
    const topic = topicName();
    const group = groupName();
    await bus.ensureTopics([{ name: topic, partitions: 4 }]);
    const a = newBus({ sessionTimeoutMs: 30_000 });
    const b = newBus({ sessionTimeoutMs: 30_000 });
    const gotA: IncomingMessage[] = [];
    const gotB: IncomingMessage[] = [];
    const subA = await collect(a, group, topic, gotA);
    const subB = await collect(b, group, topic, gotB);
    // B counts as running once it holds its share, which A hands over after B joined: polled, as
    // the owners' rows are committed a moment before B has taken note.
    await waitFor('two owners, both running', async () =>
      subA.running && subB.running && (await owners(group, topic)).size === 2 ? true : undefined,
    );
    const stoppedAt = Date.now();
    await subB.stop();
    expect(subB.running).toBe(false);
    await waitFor('one owner of all four', async () => {
      const o = await owners(group, topic);
      return o.size === 1 && [...o.values()][0].length === 4 ? true : undefined;
    });
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);
    const keys = range(40).map((i) => `key-${i}`);
    expect(new Set(keys.map((k) => partitionForKey(k, 4))).size).toBe(4);
    await a.publish(keys.map((k, i) => msg(topic, k, i)));
    await waitFor('all 40 at the remaining member', () => (gotA.length >= 40 ? true : undefined));
    expect(new Set(gotA.map((m) => m.partition)).size).toBe(4);
  });

  it('backs off exponentially up to the cap while a handler keeps failing', async () => {
    const topic = topicName();
    const b = newBus({ retry: { initialMs: 50, maxMs: 400 }, logger: silent });
    await b.ensureTopics([{ name: topic, partitions: 1 }]);
    await b.publish([msg(topic, 'k', 0)]);
    const attempts: number[] = [];
    const sub = await b.subscribe({
      groupId: groupName(),
      topics: [topic],
      handleBatch: async () => {
        attempts.push(Date.now());
        if (attempts.length < 9) throw new Error('still failing');
      },
    });
    subs.push(sub);
    await waitFor('nine attempts', () => (attempts.length >= 9 ? true : undefined), 15_000);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]);
    // 50, 100, 200, 400, 400, 400, 400, 400, plus query and timer latency, which a loaded
    // machine stretches by hundreds of ms now and then. A delay never ends early, so the lower
    // bounds are exact.
    expect(gaps[0]).toBeGreaterThanOrEqual(45);
    expect(gaps[2]).toBeGreaterThanOrEqual(190);
    expect(Math.min(...gaps.slice(3))).toBeGreaterThanOrEqual(390);
    // Capped: uncapped, the back-offs after the fourth would be 800, 1600, 3200 and 6400 ms, so
    // every one of these gaps would be at least 800 ms; a stall stretches a gap, not all of them.
    expect(Math.min(...gaps.slice(4))).toBeLessThan(2 * 400);
  });

  it('replays from an explicit offset, and refuses to reset a group with live members', async () => {
    const topic = topicName();
    const group = groupName();
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
    await bus.publish(range(10).map((i) => msg(topic, 'k', i)));
    const got: IncomingMessage[] = [];
    const sub = await collect(bus, group, topic, got);
    await waitFor('all 10', () => (got.length >= 10 ? true : undefined));
    await expect(bus.resetOffsets(group, topic, 'earliest')).rejects.toMatchObject({
      code: 'BUS_GROUP_NOT_IDLE',
    });
    await sub.stop();
    await expect(bus.resetOffsets(group, topic, [{ partition: 0, offset: '11' }])).rejects.toMatchObject({
      code: 'BUS_OFFSET_OUT_OF_RANGE',
    });
    await bus.resetOffsets(group, topic, [{ partition: 0, offset: '7' }]);
    expect(await bus.lag(group, topic)).toEqual([{ partition: 0, lag: 3 }]);
    const replay: IncomingMessage[] = [];
    await collect(bus, group, topic, replay);
    await waitFor('the replay', () => (replay.length >= 3 ? true : undefined));
    expect(replay.map((m) => m.offset)).toEqual(['7', '8', '9']);

    await Promise.all(subs.splice(0).map((x) => x.stop()));
    await bus.resetOffsets(group, topic, 'latest');
    expect(await bus.lag(group, topic)).toEqual([{ partition: 0, lag: 0 }]);
  });

  it('prunes messages older than the retention, on its timer and on demand; offsets are never reused', async () => {
    const short = topicName();
    const long = topicName();
    const count = async (topic: string) =>
      Number(
        (await sql<{ n: string }>(`SELECT count(*) AS n FROM bus.messages WHERE topic = $1`, [topic]))[0].n,
      );
    const heads = async (topic: string) =>
      new Map(
        (
          await sql<{ partition: number; next_offset: string }>(
            `SELECT partition, next_offset FROM bus.partitions WHERE topic = $1`,
            [topic],
          )
        ).map((r) => [r.partition, Number(r.next_offset)]),
      );

    const timed = newBus({ pruneIntervalMs: 100 });
    await timed.ensureTopics([
      { name: short, partitions: 2, retentionMs: 300 },
      { name: long, partitions: 2, retentionMs: 3_600_000 },
    ]);
    await timed.publish([
      ...range(6).map((i) => msg(short, `k${i}`, i)),
      ...range(6).map((i) => msg(long, `k${i}`, i)),
    ]);
    // All 6 appended (the heads moved); counting them instead would race the timer, which may
    // prune them as soon as 300 ms after the append on a loaded machine.
    expect([...(await heads(short)).values()].reduce((a, b) => a + b, 0)).toBe(6);
    await waitFor(
      'the timer to prune the short topic',
      async () => ((await count(short)) === 0 ? true : undefined),
      10_000,
    );
    expect(await count(long)).toBe(6);
    await timed.close();

    // Offsets continue after the pruned ones; a new group starts at the first retained one.
    const headsBefore = await heads(short);
    expect([...headsBefore.values()].reduce((a, b) => a + b, 0)).toBe(6);
    await bus.publish(range(6).map((i) => msg(short, `k${i}`, 100 + i)));
    const group = groupName();
    const got: IncomingMessage[] = [];
    await collect(bus, group, short, got);
    await waitFor('the 6 new ones', () => (got.length >= 6 ? true : undefined));
    expect(got.map(seqOf).sort((x, y) => x - y)).toEqual(range(6, 100));
    for (const m of got) expect(Number(m.offset)).toBeGreaterThanOrEqual(headsBefore.get(m.partition)!);

    // On demand, once they are old enough; the long topic is untouched.
    await waitFor('pruneExpired() to delete the new ones', async () => {
      await bus.pruneExpired();
      return (await count(short)) === 0 ? true : undefined;
    });
    expect(await count(long)).toBe(6);
    expect((await heads(short)).size).toBe(2);
    expect([...(await heads(short)).values()].reduce((a, b) => a + b, 0)).toBe(12);
    await waitFor('the group to commit', async () =>
      (await bus.lag(group, short)).every((l) => l.lag === 0) ? true : undefined,
    );
  });

  it('picks up a topic created after subscribing, from its beginning', async () => {
    const topic = topicName();
    const got: IncomingMessage[] = [];
    const b = newBus({ heartbeatIntervalMs: 200, sessionTimeoutMs: 2_000 });
    const sub = await collect(b, groupName(), topic, got, 'latest');
    expect(sub.running).toBe(true);
    await bus.ensureTopics([{ name: topic, partitions: 2 }]);
    await bus.publish(range(6).map((i) => msg(topic, `k${i}`, i)));
    await waitFor('the 6 published after the topic appeared', () => (got.length >= 6 ? true : undefined));
    expect(got.map(seqOf).sort((x, y) => x - y)).toEqual(range(6));
  });

  it('starts a new latest group at the head at join time, and an existing group at its position', async () => {
    const topic = topicName();
    const group = groupName();
    await bus.ensureTopics([{ name: topic, partitions: 2 }]);
    await bus.publish(range(4).map((i) => msg(topic, `k${i}`, i)));
    const got: IncomingMessage[] = [];
    const sub = await collect(bus, group, topic, got, 'latest');
    expect(await bus.lag(group, topic)).toEqual([
      { partition: 0, lag: 0 },
      { partition: 1, lag: 0 },
    ]);
    await sub.stop();
    await bus.publish(range(4).map((i) => msg(topic, `k${i}`, 10 + i)));
    // Rejoining with latest again keeps the committed position: the 4 published while away arrive.
    await collect(bus, group, topic, got, 'latest');
    await waitFor('the 4 published while stopped', () => (got.length >= 4 ? true : undefined));
    expect(got.map(seqOf).sort((x, y) => x - y)).toEqual([10, 11, 12, 13]);
  });
});

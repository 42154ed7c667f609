import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type ClientReadableStream, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { DataSource } from 'typeorm';
import {
  type CairnEvent,
  createEvent,
  EVENT_CATALOG,
  type EventDataInput,
  type EventType,
} from '@cairn/contracts';
import type { EventBus } from '@cairn/messaging';
import { gatewayAuthV1, gatewayEventsV1 as pb } from '@cairn/proto';
import { EVENT_BUS, outboxRecordOf, type RunningService, startService } from '@cairn/service-runtime';
import { createTestDatabase, freePort, type TestDatabase, waitFor } from '@cairn/testing';
import { EventsGrpc } from '../src/events';
import { gatewayBlueprint } from '../src/gateway.blueprint';
import { ADMIN_PASSWORD, authClient, basicValue } from './auth-harness';

/*
 * Events.Watch on the real gateway: its blueprint on a real Postgres, the Postgres event bus, and
 * events published on the bus as the services' outbox relays publish them. Every wait polls a
 * condition with a deadline.
 */

jest.setTimeout(120_000);

const MODEL_CREATED = 'cairn.registry.registered-model.created.v1';
const PROMOTED = 'cairn.registry.model.promoted.v1';
const EXPERIMENT_CREATED = 'cairn.tracking.experiment.created.v1';

let db: TestDatabase;
let home: string;
let svc: RunningService;
let bus: EventBus;
const closers: Array<{ close(): void }> = [];
const opened: Watching[] = [];
const ADMIN = basicValue('admin', ADMIN_PASSWORD);
const VERA = basicValue('vera', 'vera-password');

/** Publishes a catalog event (its example payload with `data` on top) as a relay would; returns it. */
async function publish<T extends EventType>(type: T, data: Partial<EventDataInput<T>>): Promise<CairnEvent> {
  const event: CairnEvent = createEvent(type, {
    data: { ...(EVENT_CATALOG[type].example as object), ...data } as EventDataInput<T>,
  }) as CairnEvent;
  const record = outboxRecordOf(event, 'test');
  await bus.publish([
    {
      topic: record.topic,
      key: record.aggregateId,
      value: record.payload,
      headers: { ce_id: event.id, ce_type: event.type },
    },
  ]);
  return event;
}

interface Watching {
  events: pb.Event[];
  error?: ServiceError;
  ended: boolean;
  call: ClientReadableStream<pb.Event>;
  /** Waits until at least `n` events arrived (or the stream failed). */
  received(n: number): Promise<pb.Event[]>;
}

function watch(req: Partial<pb.WatchRequest>, authorization: string | null = ADMIN): Watching {
  const client = new pb.EventsServiceClient(`127.0.0.1:${svc.grpcPort}`, credentials.createInsecure());
  closers.push(client);
  const md = new Metadata();
  if (authorization) md.set('authorization', authorization);
  const call = client.watch(pb.WatchRequest.fromPartial(req), md, { deadline: Date.now() + 60_000 });
  const w: Watching = {
    events: [],
    ended: false,
    call,
    received: (n) =>
      waitFor(`${n} events`, () => {
        if (w.error) throw w.error;
        return w.events.length >= n ? w.events : undefined;
      }),
  };
  opened.push(w);
  call.on('data', (e: pb.Event) => w.events.push(e));
  call.on('error', (err: ServiceError) => {
    if (err.code !== status.CANCELLED) w.error = err;
    w.ended = true;
  });
  call.on('end', () => (w.ended = true));
  return w;
}

/** The status and reason a Watch failed with. */
async function failure(w: Watching) {
  const err = await waitFor('the watch to fail', () => w.error);
  return { code: err.code, reason: String(err.metadata?.get('cairn-reason')[0] ?? '') };
}

/** Waits until the gateway has journaled `id` (a Watch resuming after it then succeeds). */
async function journaled(id: string): Promise<void> {
  await waitFor(`event ${id} in the journal`, async () => {
    const rows: unknown[] = await svc.app
      .get(DataSource)
      .query(`SELECT 1 FROM gateway.event_journal WHERE event_id = $1`, [id]);
    return rows.length > 0 ? true : undefined;
  });
}

const activeWatches = () => svc.app.get(EventsGrpc).active;

/**
 * Opens watches starting at the journal's end, and waits until the server streams them all.
 * Each test cancels its watches, so first the previous test's must have ended.
 */
async function watchLive(...reqs: Array<[Partial<pb.WatchRequest>, string?]>): Promise<Watching[]> {
  await waitFor('earlier watches to end', () => (activeWatches() === 0 ? true : undefined));
  const ws = reqs.map(([req, authorization]) => watch(req, authorization));
  await waitFor('the watches to be streaming', () => (activeWatches() === ws.length ? true : undefined));
  return ws;
}

beforeAll(async () => {
  db = await createTestDatabase('gateway_events');
  home = await mkdtemp(path.join(os.tmpdir(), 'cairn-gateway-events-'));
  svc = await startService(gatewayBlueprint, {
    DATABASE_URL: db.url,
    CAIRN_GATEWAY_GRPC_PORT: String(await freePort()),
    CAIRN_GATEWAY_HTTP_PORT: String(await freePort()),
    CAIRN_BIND_HOST: '127.0.0.1',
    LOG_LEVEL: process.env.EVENTS_TEST_LOG ?? 'warn',
    CAIRN_IDENTITY_KEY_DIR: path.join(home, 'keys'),
    CAIRN_ADMIN_PASSWORD: ADMIN_PASSWORD,
  });
  bus = svc.app.get<EventBus>(EVENT_BUS);
  const admin = authClient(svc, ADMIN);
  closers.push(admin.raw);
  await admin.rpc.createUser({ username: 'vera', password: 'vera-password' });
  await admin.rpc.createRegisteredModelPermission({
    name: 'secret-model',
    username: 'vera',
    permission: gatewayAuthV1.Permission.PERMISSION_NO_PERMISSIONS,
  });
});

// A test cancels the watches it opened when it ends, passed or failed.
afterEach(() => {
  for (const w of opened.splice(0)) w.call.cancel();
});

afterAll(async () => {
  for (const c of closers) c.close();
  await svc?.stop();
  await db?.drop();
  await rm(home, { recursive: true, force: true });
});

describe('Events.Watch', () => {
  it('streams new events in order, with their envelope', async () => {
    const [w] = await watchLive([{}]);
    // One subject is one partition of one topic: the journal keeps the order they were published in.
    const a = await publish(MODEL_CREATED, { model: 'order-a' });
    const b = await publish(PROMOTED, { model: 'order-a' });
    const c = await publish(PROMOTED, { model: 'order-a' });
    const t = await publish(EXPERIMENT_CREATED, { experimentId: '7' });
    const got = await w.received(4);
    expect(got.filter((e) => e.subject === 'order-a').map((e) => e.id)).toEqual([a.id, b.id, c.id]);
    expect(got[0]).toMatchObject({
      type: MODEL_CREATED,
      source: a.source,
      subject: 'order-a',
      time: Date.parse(a.time),
    });
    const tracked = got.find((e) => e.id === t.id);
    expect(tracked).toMatchObject({ type: EXPERIMENT_CREATED, subject: '7' });
    expect(JSON.parse(tracked!.dataJson)).toMatchObject({ experimentId: '7' });
    // Delivered in the journal's order.
    const seqs = got.map((e) => e.sequence);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(4);
  });

  it('filters by type and by subject', async () => {
    const [byType, bySubject] = await watchLive([{ types: [PROMOTED] }], [{ subjects: ['filter-b'] }]);
    const x = await publish(MODEL_CREATED, { model: 'filter-b' });
    const y = await publish(PROMOTED, { model: 'filter-a' });
    const z = await publish(PROMOTED, { model: 'filter-b' });
    // Different subjects may sit on different partitions: only a subject's own order is fixed.
    expect((await byType.received(2)).map((e) => e.id).sort()).toEqual([y.id, z.id].sort());
    expect((await bySubject.received(2)).map((e) => e.id)).toEqual([x.id, z.id]);
    // Nothing else was delivered: a later event matching both shows they are caught up.
    const last = await publish(PROMOTED, { model: 'filter-b' });
    const typed = (await byType.received(3)).map((e) => e.id);
    expect(typed.sort()).toEqual([y.id, z.id, last.id].sort());
    expect((await bySubject.received(3)).map((e) => e.id)).toEqual([x.id, z.id, last.id]);
  });

  it('resumes strictly after an event id, then keeps following', async () => {
    const first = await publish(MODEL_CREATED, { model: 'resume-m' });
    const second = await publish(PROMOTED, { model: 'resume-m' });
    const third = await publish(PROMOTED, { model: 'resume-m' });
    await journaled(third.id);
    const w = watch({ subjects: ['resume-m'], afterEventId: first.id });
    expect((await w.received(2)).map((e) => e.id)).toEqual([second.id, third.id]);
    const fourth = await publish(PROMOTED, { model: 'resume-m' });
    expect((await w.received(3)).map((e) => e.id)).toEqual([second.id, third.id, fourth.id]);
  });

  it('journals a redelivered event once', async () => {
    const e = await publish(MODEL_CREATED, { model: 'redelivered' });
    await journaled(e.id);
    const record = outboxRecordOf(e, 'test');
    await bus.publish([{ topic: record.topic, key: record.aggregateId, value: record.payload, headers: {} }]);
    const marker = await publish(PROMOTED, { model: 'redelivered' });
    await journaled(marker.id);
    const w = watch({ subjects: ['redelivered'], afterEventId: e.id });
    expect((await w.received(1)).map((x) => x.id)).toEqual([marker.id]);
  });

  it('refuses an id that is not in the journal with NOT_FOUND', async () => {
    const w = watch({ afterEventId: '00000000-0000-4000-8000-000000000000' });
    expect(await failure(w)).toEqual({ code: status.NOT_FOUND, reason: 'EVENT_NOT_IN_JOURNAL' });
  });

  it('refuses too many filters with INVALID_ARGUMENT', async () => {
    const w = watch({ subjects: Array.from({ length: 101 }, (_, i) => `s${i}`) });
    expect(await failure(w)).toEqual({ code: status.INVALID_ARGUMENT, reason: 'TOO_MANY_FILTERS' });
  });

  it('refuses a caller without credentials with UNAUTHENTICATED', async () => {
    const w = watch({}, null);
    expect(await failure(w)).toEqual({ code: status.UNAUTHENTICATED, reason: 'CREDENTIALS_REQUIRED' });
  });

  it('leaves out events about resources the caller may not read', async () => {
    const [w] = await watchLive([{ types: [MODEL_CREATED] }, VERA]);
    const secret = await publish(MODEL_CREATED, { model: 'secret-model' });
    const open = await publish(MODEL_CREATED, { model: 'open-model' });
    await journaled(secret.id);
    expect((await w.received(1)).map((e) => e.id)).toEqual([open.id]);
    // Whatever was journaled before `after` has been streamed (or left out) when it arrives.
    const after = await publish(MODEL_CREATED, { model: 'open-model-2' });
    expect((await w.received(2)).map((e) => e.id)).toEqual([open.id, after.id]);
  });

  it('stops the server-side stream when the client cancels', async () => {
    const [w] = await watchLive([{}]);
    w.call.cancel();
    await waitFor('the watch to stop', () => (activeWatches() === 0 ? true : undefined));
    expect(w.ended).toBe(true);
  });
});

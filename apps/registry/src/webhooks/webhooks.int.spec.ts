import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { credentials } from '@grpc/grpc-js';
import { type CairnEvent, createEvent, type EventDataInput, type EventType, TOPICS } from '@cairn/contracts';
import type { EventBus } from '@cairn/messaging';
import { registryWebhooksV1 as pb } from '@cairn/proto';
import {
  EVENT_BUS,
  MessagingRuntime,
  outboxRecordOf,
  type RunningService,
  type ServiceBlueprint,
  startService,
} from '@cairn/service-runtime';
import {
  createTestDatabase,
  freePort,
  grpcFailure as failure,
  type TestDatabase,
  unaryApi,
  waitFor,
} from '@cairn/testing';
import { Baseline1764000000000 } from '../migrations/1764000000000-baseline';
import { MessagingTables1764100000000 } from '../migrations/1764100000000-messaging-tables';
import { Webhooks1764230000000 } from '../migrations/1764230000000-webhooks';
import { webhookSettings } from './webhook.settings';
import { WebhooksModule } from './webhooks.module';

/*
 * Webhooks end to end on a real Postgres and the Postgres event bus: registry events published
 * on cairn.registry become signed POSTs to a local receiver (loopback is allowed explicitly in
 * the settings, as an operator would allow an internal network), with retries and dedup.
 */

/** The registry wiring this feature needs, and nothing else of the registry. */
const blueprint: ServiceBlueprint<typeof webhookSettings> = {
  service: 'registry',
  extraSettings: webhookSettings,
  migrations: [Baseline1764000000000, MessagingTables1764100000000, Webhooks1764230000000],
  messaging: { publishes: [TOPICS.registry] },
  features: (_settings, extra) => [WebhooksModule.forRoot(extra)],
};

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** An HTTP receiver: answers each path with the next status of its script (the last repeats). */
class Receiver {
  readonly requests: Received[] = [];
  private readonly scripts = new Map<string, number[]>();
  private server!: http.Server;
  port = 0;

  script(path: string, statuses: number[]): string {
    this.scripts.set(path, [...statuses]);
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        this.requests.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        const script = this.scripts.get(path) ?? [404];
        const status = script.length > 1 ? script.shift()! : script[0];
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'not now');
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  to(path: string): Received[] {
    return this.requests.filter((r) => r.path === path);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The receiver's check, as MLflow's documentation gives it: strip `v1,` from
 * X-MLflow-Signature, HMAC-SHA256 the string "{delivery_id}.{timestamp}.{raw body}" with the
 * secret, base64 it, compare in constant time; and refuse timestamps older than 5 minutes.
 */
function verifyMlflowSignature(r: Received, secret: string): boolean {
  const signature = String(r.headers['x-mlflow-signature'] ?? '');
  const deliveryId = String(r.headers['x-mlflow-delivery-id'] ?? '');
  const timestamp = String(r.headers['x-mlflow-timestamp'] ?? '');
  if (!signature.startsWith('v1,')) return false;
  const age = Math.floor(Date.now() / 1000) - Number(timestamp);
  if (!(age >= 0 && age <= 300)) return false;
  const expected = createHmac('sha256', secret)
    .update(`${deliveryId}.${timestamp}.${r.body}`)
    .digest('base64');
  const got = Buffer.from(signature.slice(3));
  return got.length === Buffer.byteLength(expected) && timingSafeEqual(got, Buffer.from(expected));
}

function client(address: string) {
  const raw = new pb.WebhookServiceClient(address, credentials.createInsecure());
  return { raw, rpc: unaryApi<pb.WebhookServiceServer>(raw, pb.WebhookServiceService, pb) };
}

const E = pb.WebhookEntity;
const A = pb.WebhookAction;
const ALL_EVENTS = [
  { entity: E.WEBHOOK_ENTITY_REGISTERED_MODEL, action: A.WEBHOOK_ACTION_CREATED },
  { entity: E.WEBHOOK_ENTITY_MODEL_VERSION, action: A.WEBHOOK_ACTION_CREATED },
  { entity: E.WEBHOOK_ENTITY_MODEL_VERSION_TAG, action: A.WEBHOOK_ACTION_SET },
  { entity: E.WEBHOOK_ENTITY_MODEL_VERSION_TAG, action: A.WEBHOOK_ACTION_DELETED },
  { entity: E.WEBHOOK_ENTITY_MODEL_VERSION_ALIAS, action: A.WEBHOOK_ACTION_CREATED },
  { entity: E.WEBHOOK_ENTITY_MODEL_VERSION_ALIAS, action: A.WEBHOOK_ACTION_DELETED },
];

jest.setTimeout(60_000);

const FAST = {
  CAIRN_REGISTRY_WEBHOOK_BACKOFF_BASE_MS: '50',
  CAIRN_REGISTRY_WEBHOOK_BACKOFF_CAP_MS: '200',
  CAIRN_REGISTRY_WEBHOOK_POLL_INTERVAL_MS: '50',
  CAIRN_REGISTRY_WEBHOOK_TIMEOUT_MS: '5000',
  CAIRN_REGISTRY_WEBHOOK_MAX_ATTEMPTS: '3',
};

describe('registry webhooks (Postgres, event bus, HTTP receiver)', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let api: ReturnType<typeof client>;
  const receiver = new Receiver();

  async function boot(allowedNetworks: string): Promise<void> {
    svc = await startService(blueprint, {
      DATABASE_URL: db.url,
      CAIRN_REGISTRY_GRPC_PORT: String(await freePort()),
      CAIRN_REGISTRY_HTTP_PORT: String(await freePort()),
      CAIRN_BIND_HOST: '127.0.0.1',
      LOG_LEVEL: process.env.WEBHOOK_TEST_LOG ?? 'warn',
      CAIRN_REGISTRY_WEBHOOK_ALLOWED_NETWORKS: allowedNetworks,
      ...FAST,
    });
    api = client(`127.0.0.1:${svc.grpcPort}`);
  }

  async function shutdown(): Promise<void> {
    api?.raw.close();
    await svc?.stop();
  }

  /** Publishes a registry event the way the registry does: through its outbox. */
  async function publish<T extends EventType>(type: T, data: EventDataInput<T>): Promise<string> {
    const event = createEvent(type, { data });
    await svc.app
      .get(MessagingRuntime)
      .unitOfWork()
      .run(async (tx) => tx.emit(outboxRecordOf(event as CairnEvent, 'model')));
    return event.id;
  }

  async function deliveriesOf(webhookId: string): Promise<pb.WebhookDelivery[]> {
    return (await api.rpc.listWebhookDeliveries({ webhookId, maxResults: 1000 })).deliveries;
  }

  beforeAll(async () => {
    db = await createTestDatabase('registry_webhooks');
    await receiver.start();
    await boot('127.0.0.1/32');
  });

  afterAll(async () => {
    await shutdown();
    await receiver.stop();
    await db?.drop();
  });

  it('posts each registry event as MLflow does, signed so the receiver can verify it', async () => {
    const secret = 'whsec-' + randomUUID();
    const url = receiver.script('/mlflow', [200]);
    const { webhook } = await api.rpc.createWebhook({
      name: 'ci',
      url,
      events: ALL_EVENTS,
      secret,
      description: 'CI hook',
    });
    expect(webhook).toMatchObject({ name: 'ci', url, description: 'CI hook', hasSecret: true });
    expect(webhook!.status).toBe(pb.WebhookStatus.WEBHOOK_STATUS_ACTIVE);
    expect(JSON.stringify(webhook)).not.toContain(secret);
    const got = await api.rpc.getWebhook({ webhookId: webhook!.webhookId });
    expect(JSON.stringify(got)).not.toContain(secret);

    const at = '2025-01-15T10:45:00.000Z';
    // Not a webhook event, and first on the model's partition: consumed before the others.
    await publish('cairn.registry.model.archived.v1', {
      model: 'churn',
      version: '1',
      fromStage: 'Staging',
      reason: 'MANUAL',
      actor: 'user:alice',
      archivedAt: at,
    });

    await publish('cairn.registry.registered-model.created.v1', {
      model: 'churn',
      tags: { team: 'growth' },
      createdBy: 'user:alice',
      createdAt: at,
    });
    await publish('cairn.registry.model-version.created.v1', {
      model: 'churn',
      version: '1',
      runId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
      artifactUri: 's3://artifacts/churn/1',
      artifactDigest: 'sha256:' + 'a'.repeat(64),
      tags: {},
      description: 'first',
      createdBy: 'user:alice',
      createdAt: at,
    });
    await publish('cairn.registry.model-version-tag.set.v1', {
      model: 'churn',
      version: '1',
      key: 'stage',
      value: 'qa',
      actor: 'user:alice',
      setAt: at,
    });
    await publish('cairn.registry.model-version-tag.deleted.v1', {
      model: 'churn',
      version: '1',
      key: 'stage',
      actor: 'user:alice',
      deletedAt: at,
    });
    await publish('cairn.registry.alias.set.v1', {
      model: 'churn',
      alias: 'champion',
      version: '1',
      actor: 'user:alice',
      setAt: at,
    });
    await publish('cairn.registry.alias.deleted.v1', {
      model: 'churn',
      alias: 'champion',
      version: '1',
      actor: 'user:alice',
      deletedAt: at,
    });
    const received = await waitFor('six deliveries', () => {
      const r = receiver.to('/mlflow');
      return r.length >= 6 ? r : undefined;
    });
    for (const r of received) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(verifyMlflowSignature(r, secret)).toBe(true);
      expect(verifyMlflowSignature(r, 'another-secret')).toBe(false);
    }
    const bodies = received.map(
      (r) => JSON.parse(r.body) as { entity: string; action: string; data: unknown },
    );
    expect(bodies.map((b) => `${b.entity}.${b.action}`).sort()).toEqual(
      [
        'model_version.created',
        'model_version_alias.created',
        'model_version_alias.deleted',
        'model_version_tag.deleted',
        'model_version_tag.set',
        'registered_model.created',
      ].sort(),
    );
    const byEvent = Object.fromEntries(bodies.map((b) => [`${b.entity}.${b.action}`, b]));
    expect(byEvent['registered_model.created']).toEqual({
      entity: 'registered_model',
      action: 'created',
      timestamp: at,
      data: { name: 'churn', tags: { team: 'growth' }, description: null },
    });
    expect(byEvent['model_version.created'].data).toEqual({
      name: 'churn',
      version: '1',
      source: 's3://artifacts/churn/1',
      run_id: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
      tags: {},
      description: 'first',
    });
    expect(byEvent['model_version_tag.set'].data).toEqual({
      name: 'churn',
      version: '1',
      key: 'stage',
      value: 'qa',
    });
    expect(byEvent['model_version_tag.deleted'].data).toEqual({ name: 'churn', version: '1', key: 'stage' });
    expect(byEvent['model_version_alias.created'].data).toEqual({
      name: 'churn',
      alias: 'champion',
      version: '1',
    });
    expect(byEvent['model_version_alias.deleted'].data).toEqual({ name: 'churn', alias: 'champion' });

    // Each delivery id is the stored delivery's, and it is recorded as succeeded.
    const deliveries = await waitFor('deliveries recorded as succeeded', async () => {
      const d = await deliveriesOf(webhook!.webhookId);
      return d.length === 6 &&
        d.every((x) => x.status === pb.WebhookDeliveryStatus.WEBHOOK_DELIVERY_STATUS_SUCCEEDED)
        ? d
        : undefined;
    });
    expect(new Set(deliveries.map((d) => d.deliveryId))).toEqual(
      new Set(received.map((r) => String(r.headers['x-mlflow-delivery-id']))),
    );
    expect(
      deliveries.every((d) => d.attempts === 1 && d.lastResponseStatus === 200 && d.deliveredTimestamp),
    ).toBe(true);
    // The archive event, which no webhook can subscribe to, was consumed first and posted nothing.
    expect(receiver.to('/mlflow')).toHaveLength(6);
  });

  it('retries a 500 with backoff and delivers on the next 200, with the same delivery id', async () => {
    const secret = 's3cret';
    const url = receiver.script('/flaky', [500, 200]);
    const { webhook } = await api.rpc.createWebhook({
      name: 'flaky',
      url,
      secret,
      events: [{ entity: E.WEBHOOK_ENTITY_MODEL_VERSION_TAG, action: A.WEBHOOK_ACTION_SET }],
    });
    await publish('cairn.registry.model-version-tag.set.v1', {
      model: 'retry-model',
      version: '2',
      key: 'k',
      value: 'v',
      actor: 'user:bob',
      setAt: new Date().toISOString(),
    });
    const delivered = await waitFor('a delivered retry', async () => {
      const [d] = await deliveriesOf(webhook!.webhookId);
      return d?.status === pb.WebhookDeliveryStatus.WEBHOOK_DELIVERY_STATUS_SUCCEEDED ? d : undefined;
    });
    expect(delivered).toMatchObject({ attempts: 2, lastResponseStatus: 200, lastError: '' });
    const posts = receiver.to('/flaky');
    expect(posts).toHaveLength(2);
    expect(posts[0].headers['x-mlflow-delivery-id']).toBe(delivered.deliveryId);
    expect(posts[1].headers['x-mlflow-delivery-id']).toBe(delivered.deliveryId);
    expect(posts[1].body).toBe(posts[0].body);
    expect(posts.every((p) => verifyMlflowSignature(p, secret))).toBe(true);
  });

  it('gives up after the last attempt, and fails a 4xx at once', async () => {
    const url500 = receiver.script('/down', [503]);
    const url404 = receiver.script('/gone', [404]);
    const events = [{ entity: E.WEBHOOK_ENTITY_MODEL_VERSION_ALIAS, action: A.WEBHOOK_ACTION_DELETED }];
    const down = (await api.rpc.createWebhook({ name: 'down', url: url500, events })).webhook!;
    const gone = (await api.rpc.createWebhook({ name: 'gone', url: url404, events })).webhook!;
    await publish('cairn.registry.alias.deleted.v1', {
      model: 'm',
      alias: 'a',
      version: '1',
      actor: 'user:bob',
      deletedAt: new Date().toISOString(),
    });
    const failed = pb.WebhookDeliveryStatus.WEBHOOK_DELIVERY_STATUS_FAILED;
    const d1 = await waitFor('the 503 delivery to fail', async () => {
      const [d] = await deliveriesOf(down.webhookId);
      return d?.status === failed ? d : undefined;
    });
    expect(d1).toMatchObject({ attempts: 3, lastResponseStatus: 503 });
    expect(d1.lastError).toContain('gave up after 3 attempts');
    expect(d1.nextAttemptTimestamp).toBeUndefined();
    expect(receiver.to('/down')).toHaveLength(3);
    const d2 = await waitFor('the 404 delivery to fail', async () => {
      const [d] = await deliveriesOf(gone.webhookId);
      return d?.status === failed ? d : undefined;
    });
    expect(d2).toMatchObject({ attempts: 1, lastResponseStatus: 404 });
    expect(receiver.to('/gone')).toHaveLength(1);
  });

  it('creates no second delivery for a redelivered event, even once the inbox forgot it', async () => {
    const url = receiver.script('/once', [200]);
    const { webhook } = await api.rpc.createWebhook({
      name: 'once',
      url,
      events: [{ entity: E.WEBHOOK_ENTITY_REGISTERED_MODEL, action: A.WEBHOOK_ACTION_CREATED }],
    });
    const event = createEvent('cairn.registry.registered-model.created.v1', {
      data: { model: 'dup', tags: {}, createdBy: 'user:carol', createdAt: new Date().toISOString() },
    });
    const record = outboxRecordOf(event, 'model');
    const bus = svc.app.get<EventBus>(EVENT_BUS);
    const message = {
      topic: record.topic,
      key: record.aggregateId,
      value: record.payload,
      headers: { ce_id: event.id },
    };
    await bus.publish([message]);
    await waitFor('the first delivery', () => (receiver.to('/once').length === 1 ? true : undefined));

    // The same event again: the consumer's inbox absorbs it.
    await bus.publish([message]);
    // And once more after its inbox record was pruned: the (webhook, event) key absorbs it.
    await svc.app
      .get(MessagingRuntime)
      .unitOfWork()
      .run((tx) => tx.manager.query(`DELETE FROM registry.inbox WHERE event_id = $1`, [event.id]));
    await bus.publish([message]);
    // A later event on the same partition proves the duplicates were consumed before it.
    const marker = await publish('cairn.registry.registered-model.created.v1', {
      model: 'dup',
      tags: {},
      createdBy: 'user:carol',
      createdAt: new Date().toISOString(),
    });
    const deliveries = await waitFor('the marker delivery', async () => {
      const d = await deliveriesOf(webhook!.webhookId);
      return d.some((x) => x.eventId === marker) ? d : undefined;
    });
    expect(deliveries.filter((d) => d.eventId === event.id)).toHaveLength(1);
    expect(deliveries).toHaveLength(2);
    await waitFor('the marker posted', () => (receiver.to('/once').length === 2 ? true : undefined));
    expect(receiver.to('/once')).toHaveLength(2);
  });

  it('manages webhooks with MLflow validation, paging and a Test call', async () => {
    const url = receiver.script('/manage', [200]);
    const events = [{ entity: E.WEBHOOK_ENTITY_MODEL_VERSION, action: A.WEBHOOK_ACTION_CREATED }];
    expect(await failure(api.rpc.createWebhook({ name: '', url, events }))).toMatchObject({
      code: 3,
      reason: 'INVALID_PARAMETER_VALUE',
      message: 'Webhook name cannot be empty',
    });
    expect(await failure(api.rpc.createWebhook({ name: 'x', url, events: [] }))).toMatchObject({
      message: 'Webhook events cannot be empty',
    });
    expect(
      await failure(
        api.rpc.createWebhook({
          name: 'x',
          url,
          events: [{ entity: E.WEBHOOK_ENTITY_REGISTERED_MODEL, action: A.WEBHOOK_ACTION_DELETED }],
        }),
      ),
    ).toMatchObject({
      reason: 'INVALID_PARAMETER_VALUE',
      message: "Invalid action 'deleted' for entity 'registered_model'. Valid actions are: ['created']",
    });
    expect(
      await failure(api.rpc.createWebhook({ name: 'x', url: 'gopher://127.0.0.1:70/_', events })),
    ).toMatchObject({
      code: 3,
      reason: 'WEBHOOK_URL_FORBIDDEN',
    });
    expect(
      await failure(api.rpc.createWebhook({ name: 'x', url: 'http://169.254.169.254/latest', events })),
    ).toMatchObject({
      reason: 'WEBHOOK_URL_FORBIDDEN',
      message: expect.stringContaining('link-local'),
    });
    expect(await failure(api.rpc.getWebhook({ webhookId: randomUUID() }))).toMatchObject({
      code: 5,
      reason: 'WEBHOOK_NOT_FOUND',
    });

    const created = (await api.rpc.createWebhook({ name: 'manage', url, events, secret: 'k1' })).webhook!;
    const updated = (
      await api.rpc.updateWebhook({
        webhookId: created.webhookId,
        description: 'now described',
        status: pb.WebhookStatus.WEBHOOK_STATUS_DISABLED,
        secret: '',
      })
    ).webhook!;
    expect(updated).toMatchObject({ name: 'manage', url, description: 'now described', hasSecret: false });
    expect(updated.status).toBe(pb.WebhookStatus.WEBHOOK_STATUS_DISABLED);
    expect(updated.events).toEqual(events);
    expect(
      await failure(api.rpc.updateWebhook({ webhookId: created.webhookId, url: 'http://10.0.0.1/' })),
    ).toMatchObject({
      reason: 'WEBHOOK_URL_FORBIDDEN',
    });

    const { result } = await api.rpc.testWebhook({
      webhookId: created.webhookId,
      event: { entity: E.WEBHOOK_ENTITY_MODEL_VERSION, action: A.WEBHOOK_ACTION_CREATED },
    });
    expect(result).toMatchObject({
      success: true,
      responseStatus: 200,
      responseBody: 'ok',
      errorMessage: '',
    });
    const posted = receiver.to('/manage').at(-1)!;
    expect(posted.headers['x-mlflow-signature']).toBeUndefined(); // the secret was removed
    expect(JSON.parse(posted.body)).toMatchObject({
      entity: 'model_version',
      action: 'created',
      data: { name: 'example_model', version: '1', source: 'runs:/abcd1234abcd5678/model' },
    });

    // Pages of one, newest first, until the end.
    const seen: string[] = [];
    let token = '';
    do {
      const page = await api.rpc.listWebhooks({ maxResults: 1, pageToken: token });
      seen.push(...page.webhooks.map((w) => w.webhookId));
      token = page.nextPageToken;
    } while (token !== '');
    expect(seen[0]).toBe(created.webhookId);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBeGreaterThanOrEqual(5);
    expect(await failure(api.rpc.listWebhooks({ pageToken: 'garbage' }))).toMatchObject({
      reason: 'INVALID_PAGE_TOKEN',
    });

    await api.rpc.deleteWebhook({ webhookId: created.webhookId });
    expect(await failure(api.rpc.getWebhook({ webhookId: created.webhookId }))).toMatchObject({
      reason: 'WEBHOOK_NOT_FOUND',
    });
  });

  it('refuses a loopback URL at create time when it is not allowed, and at delivery when the settings change', async () => {
    const url = receiver.script('/revoked', [200]);
    const events = [{ entity: E.WEBHOOK_ENTITY_MODEL_VERSION_TAG, action: A.WEBHOOK_ACTION_DELETED }];
    const { webhook } = await api.rpc.createWebhook({ name: 'revoked', url, events });

    // Restart without the loopback allowance: the operator revoked it.
    await shutdown();
    await boot('');
    expect(await failure(api.rpc.createWebhook({ name: 'again', url, events }))).toMatchObject({
      code: 3,
      reason: 'WEBHOOK_URL_FORBIDDEN',
      message: expect.stringContaining('127.0.0.1 is a loopback address'),
    });
    await publish('cairn.registry.model-version-tag.deleted.v1', {
      model: 'm',
      version: '1',
      key: 'k',
      actor: 'user:dan',
      deletedAt: new Date().toISOString(),
    });
    const d = await waitFor('the delivery to be refused', async () => {
      const [x] = await deliveriesOf(webhook!.webhookId);
      return x?.status === pb.WebhookDeliveryStatus.WEBHOOK_DELIVERY_STATUS_FAILED ? x : undefined;
    });
    expect(d.lastError).toContain('is not allowed');
    expect(d.lastError).toContain('loopback');
    expect(d.attempts).toBe(1);
    expect(receiver.to('/revoked')).toHaveLength(0);
    const { result } = await api.rpc.testWebhook({ webhookId: webhook!.webhookId });
    expect(result).toMatchObject({ success: false });
    expect(result!.errorMessage).toContain('loopback');
    expect(receiver.to('/revoked')).toHaveLength(0);
  });
});

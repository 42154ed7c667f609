import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '../src/postgres';
import { startS3Server, type S3TestServer } from '../src/s3-server';

describe('integration harness: real Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('harness');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('writes and reads rows in a fresh database of the embedded server', async () => {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows: version } = await client.query<{ server_version_num: string }>('SHOW server_version_num');
      expect(Number(version[0].server_version_num)).toBeGreaterThanOrEqual(150000);
      await client.query('CREATE TABLE harness_check (id serial PRIMARY KEY, payload jsonb NOT NULL)');
      await client.query('INSERT INTO harness_check (payload) VALUES ($1), ($2)', [{ a: 1 }, { a: 2 }]);
      const { rows } = await client.query<{ total: number }>(
        "SELECT sum((payload->>'a')::int)::int AS total FROM harness_check",
      );
      expect(rows[0].total).toBe(3);
    } finally {
      await client.end();
    }
  });

  it('gives each suite its own database', async () => {
    const other = await createTestDatabase('harness');
    try {
      expect(other.name).not.toBe(db.name);
      const client = new Client({ connectionString: other.url });
      await client.connect();
      const { rows } = await client.query<{ t: string | null }>(
        "SELECT to_regclass('public.harness_check')::text AS t",
      );
      await client.end();
      expect(rows[0].t).toBeNull();
    } finally {
      await other.drop();
    }
  });
});

describe('integration harness: S3-compatible server', () => {
  let s3: S3TestServer;
  let client: S3Client;
  beforeAll(async () => {
    s3 = await startS3Server();
    client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
  }, 60_000);
  afterAll(async () => {
    client?.destroy();
    await s3?.stop();
  });

  it('puts and gets an object', async () => {
    await client.send(new CreateBucketCommand({ Bucket: 'harness' }));
    const body = Buffer.from(`model bytes ${Date.now()}`);
    await client.send(new PutObjectCommand({ Bucket: 'harness', Key: 'runs/1/model.pkl', Body: body }));
    const got = await client.send(new GetObjectCommand({ Bucket: 'harness', Key: 'runs/1/model.pkl' }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    expect(bytes.equals(body)).toBe(true);
    await expect(
      client.send(new GetObjectCommand({ Bucket: 'harness', Key: 'missing' })),
    ).rejects.toMatchObject({
      name: 'NoSuchKey',
    });
  });
});

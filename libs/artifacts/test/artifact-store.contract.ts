import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { AppError } from '@cairn/rpc';
import type { ArtifactStore } from '../src/artifact-store.port';

/** What every artifact store adapter must do, run against each real adapter. */
export interface ArtifactStoreFixture {
  store: ArtifactStore;
  /** A location that shares the root's text as a prefix but lies outside it (`/usr/outnot`). */
  siblingUri(scope: string): string;
  /** Adapter-specific checks on the large upload (e.g. that S3 went multipart). */
  afterLargeUpload?(scope: string, path: string): Promise<void>;
  /** Incomplete uploads the backend still holds (S3 multipart uploads, stray temp files). */
  pendingUploads?(scope: string): Promise<number>;
}

export const MiB = 1024 * 1024;

/** A body of several chunks, so adapters see a real stream rather than one buffer. */
export function bodyOf(bytes: Buffer, chunk = 7_919): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  return Readable.from(parts, { objectMode: false });
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/** `total` random bytes generated on demand, hashed as they go out: never all in memory. */
export function generatedBody(total: number): { body: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  let sent = 0;
  const body = new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(256 * 1024, total - sent));
      sent += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { body, sha256: () => hash.digest('hex') };
}

/**
 * A body that delivers `before` bytes, in chunks as the store pulls them, and then fails
 * like a client that disconnects: by then the store has consumed nearly all of them.
 */
export function failingBody(before: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= before) {
        this.destroy(new Error('client went away'));
        return;
      }
      const chunk = randomBytes(Math.min(64 * 1024, before - sent));
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

/** The AppError a synchronous call throws (fails the test if it returns). */
export function thrownBy(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    return err as AppError;
  }
  throw new Error('expected an error');
}

export async function rejectionOf(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    return err as AppError;
  }
  throw new Error('expected a rejection');
}

export function describeArtifactStoreContract(name: string, fixture: () => ArtifactStoreFixture): void {
  describe(`artifact store contract: ${name}`, () => {
    const newScope = () => `${Math.floor(Math.random() * 1000)}/${randomUUID().replace(/-/g, '')}/artifacts`;

    async function putBytes(store: ArtifactStore, scope: string, path: string, bytes: Buffer) {
      return store.put(scope, path, bodyOf(bytes), { contentLength: bytes.length });
    }

    async function seedModel(store: ArtifactStore, scope: string) {
      await putBytes(store, scope, 'model/MLmodel', Buffer.from('artifact_path: model\nflavors: {}\n'));
      await putBytes(store, scope, 'model/conda.yaml', Buffer.from('name: env\n'));
      await putBytes(store, scope, 'model/data/weights.bin', randomBytes(4096));
      await putBytes(store, scope, 'metrics.json', Buffer.from('{"acc":0.9}'));
      await putBytes(store, scope, 'plots/roc curve.png', randomBytes(1000));
    }

    it('round-trips bytes through put and get, streamed in chunks', async () => {
      const { store } = fixture();
      const scope = newScope();
      const bytes = randomBytes(300_001);
      const stored = await store.put(scope, './model//weights.bin', bodyOf(bytes));
      expect(stored).toEqual({ path: 'model/weights.bin', size: bytes.length });
      const got = await store.get(scope, 'model/weights.bin');
      expect(got.size).toBe(bytes.length);
      expect((await readAll(got.stream)).equals(bytes)).toBe(true);
    });

    it('stores empty artifacts and overwrites existing ones', async () => {
      const { store } = fixture();
      const scope = newScope();
      await putBytes(store, scope, 'empty.txt', Buffer.alloc(0));
      const empty = await store.get(scope, 'empty.txt');
      expect(empty.size).toBe(0);
      expect(await readAll(empty.stream)).toHaveLength(0);
      await putBytes(store, scope, 'notes.txt', Buffer.from('first'));
      await putBytes(store, scope, 'notes.txt', Buffer.from('second version'));
      expect((await readAll((await store.get(scope, 'notes.txt')).stream)).toString()).toBe('second version');
    });

    it('keeps names with spaces, percent signs and non-ASCII characters as given', async () => {
      const { store } = fixture();
      const scope = newScope();
      for (const p of ['my model/conda env.yaml', 'données/résumé.txt', '模型/权重.bin', 'a%20b', '100%25']) {
        await putBytes(store, scope, p, Buffer.from(p));
        expect((await readAll((await store.get(scope, p)).stream)).toString()).toBe(p);
      }
      expect((await store.list(scope)).map((e) => e.path)).toEqual([
        '100%25',
        'a%20b',
        'données',
        'my model',
        '模型',
      ]);
    });

    it('lists the direct children of a directory, directories without a size, sorted by path', async () => {
      const { store } = fixture();
      const scope = newScope();
      await seedModel(store, scope);
      expect(await store.list(scope)).toStrictEqual([
        { path: 'metrics.json', isDir: false, size: 11 },
        { path: 'model', isDir: true },
        { path: 'plots', isDir: true },
      ]);
      expect(await store.list(scope, '')).toStrictEqual(await store.list(scope));
    });

    it('lists nested directories with paths relative to the scope', async () => {
      const { store } = fixture();
      const scope = newScope();
      await seedModel(store, scope);
      const model = [
        { path: 'model/MLmodel', isDir: false, size: 33 },
        { path: 'model/conda.yaml', isDir: false, size: 10 },
        { path: 'model/data', isDir: true },
      ];
      expect(await store.list(scope, 'model')).toStrictEqual(model);
      expect(await store.list(scope, './model/')).toStrictEqual(model);
      expect(await store.list(scope, 'model/data')).toStrictEqual([
        { path: 'model/data/weights.bin', isDir: false, size: 4096 },
      ]);
      expect(await store.list(scope, 'plots')).toStrictEqual([
        { path: 'plots/roc curve.png', isDir: false, size: 1000 },
      ]);
    });

    it('lists a file path, a missing directory and an empty scope as []', async () => {
      const { store } = fixture();
      const scope = newScope();
      await seedModel(store, scope);
      expect(await store.list(scope, 'metrics.json')).toEqual([]);
      expect(await store.list(scope, 'model/MLmodel')).toEqual([]);
      expect(await store.list(scope, 'nothing/here')).toEqual([]);
      // A name that only shares a prefix with a directory is not that directory.
      expect(await store.list(scope, 'mod')).toEqual([]);
      expect(await store.list(newScope())).toEqual([]);
    });

    it('keeps scopes apart', async () => {
      const { store } = fixture();
      const a = newScope();
      const b = `${a}-other`;
      await putBytes(store, a, 'x.txt', Buffer.from('a'));
      await putBytes(store, b, 'y.txt', Buffer.from('b'));
      expect((await store.list(a)).map((e) => e.path)).toEqual(['x.txt']);
      expect((await store.list(b)).map((e) => e.path)).toEqual(['y.txt']);
      await store.delete(a, '');
      expect(await store.list(a)).toEqual([]);
      expect((await store.list(b)).map((e) => e.path)).toEqual(['y.txt']);
    });

    it('throws ARTIFACT_NOT_FOUND for a missing artifact or a directory', async () => {
      const { store } = fixture();
      const scope = newScope();
      await seedModel(store, scope);
      for (const p of ['missing.txt', 'model/missing', 'nowhere/at/all', 'model', 'model/data']) {
        const err = await rejectionOf(store.get(scope, p));
        expect(err).toBeInstanceOf(AppError);
        expect([err.kind, err.reason]).toEqual(['not_found', 'ARTIFACT_NOT_FOUND']);
      }
    });

    it('deletes one file and leaves its siblings', async () => {
      const { store } = fixture();
      const scope = newScope();
      await seedModel(store, scope);
      await store.delete(scope, 'model/MLmodel');
      expect((await rejectionOf(store.get(scope, 'model/MLmodel'))).reason).toBe('ARTIFACT_NOT_FOUND');
      expect((await store.list(scope, 'model')).map((e) => e.path)).toEqual([
        'model/conda.yaml',
        'model/data',
      ]);
    });

    it('deletes a whole subtree, but not a sibling sharing its name as a prefix', async () => {
      const { store } = fixture();
      const scope = newScope();
      await seedModel(store, scope);
      await putBytes(store, scope, 'model-card.md', Buffer.from('# card'));
      await store.delete(scope, 'model/');
      expect(await store.list(scope, 'model')).toEqual([]);
      expect(await store.list(scope, 'model/data')).toEqual([]);
      expect((await rejectionOf(store.get(scope, 'model/data/weights.bin'))).reason).toBe(
        'ARTIFACT_NOT_FOUND',
      );
      expect((await store.list(scope)).map((e) => e.path)).toEqual([
        'metrics.json',
        'model-card.md',
        'plots',
      ]);
    });

    it('deletes missing paths quietly, and the whole scope with an empty path', async () => {
      const { store } = fixture();
      const scope = newScope();
      await expect(store.delete(scope, 'never/written')).resolves.toBeUndefined();
      await seedModel(store, scope);
      await store.delete(scope, 'nothing-here');
      expect(await store.list(scope)).toHaveLength(3);
      await store.delete(scope, '');
      expect(await store.list(scope)).toEqual([]);
      expect(await store.list(scope, 'model')).toEqual([]);
    });

    it('refuses hostile paths and scopes in every operation, before touching anything', async () => {
      const { store } = fixture();
      const scope = newScope();
      await seedModel(store, scope);
      const hostile = [
        '../x',
        '..\\x',
        '/etc/passwd',
        '%2e%2e%2f',
        '%252e%252e%252fx',
        '..;/x',
        'a#/../../x',
        '?a=../..',
      ];
      for (const p of hostile) {
        const body = bodyOf(Buffer.from('evil'));
        expect((await rejectionOf(store.put(scope, p, body))).reason).toBe('INVALID_ARTIFACT_PATH');
        expect(body.destroyed).toBe(true);
        expect((await rejectionOf(store.get(scope, p))).reason).toBe('INVALID_ARTIFACT_PATH');
        expect((await rejectionOf(store.list(scope, p))).reason).toBe('INVALID_ARTIFACT_PATH');
        expect((await rejectionOf(store.delete(scope, p))).reason).toBe('INVALID_ARTIFACT_PATH');
      }
      for (const s of ['', '.', '../other', `${scope}/../..`, '%252e%252e', 'file:///etc', 's3://b/k']) {
        expect((await rejectionOf(store.list(s))).reason).toBe('INVALID_ARTIFACT_PATH');
        expect((await rejectionOf(store.delete(s, ''))).reason).toBe('INVALID_ARTIFACT_PATH');
        expect((await rejectionOf(store.put(s, 'x', bodyOf(Buffer.from('x'))))).reason).toBe(
          'INVALID_ARTIFACT_PATH',
        );
        expect(thrownBy(() => store.uriFor(s)).reason).toBe('INVALID_ARTIFACT_PATH');
      }
      expect((await rejectionOf(store.put(scope, '', bodyOf(Buffer.from('x'))))).reason).toBe(
        'INVALID_ARTIFACT_PATH',
      );
      expect((await rejectionOf(store.get(scope, ''))).reason).toBe('INVALID_ARTIFACT_PATH');
      // Nothing was written or removed by any of those.
      expect((await store.list(scope)).map((e) => e.path)).toEqual(['metrics.json', 'model', 'plots']);
    });

    it('maps scopes to URIs and back, and refuses locations outside the root', async () => {
      const { store, siblingUri } = fixture();
      for (const scope of ['0', '3/6f1c0d/artifacts', 'exp 7/run é/artifacts']) {
        const uri = store.uriFor(scope);
        expect(uri.startsWith(`${store.rootUri}/`)).toBe(true);
        expect(store.scopeOf(uri)).toBe(scope);
      }
      expect(store.scopeOf(`${store.rootUri}//3//abc/./artifacts/`)).toBe('3/abc/artifacts');
      const notManaged = (uri: string) => {
        const err = thrownBy(() => store.scopeOf(uri));
        expect([err.kind, err.reason]).toEqual(['failed_precondition', 'ARTIFACT_ROOT_NOT_MANAGED']);
      };
      notManaged(siblingUri('3/abc/artifacts'));
      notManaged(store.rootUri);
      notManaged(`${store.rootUri}/`);
      notManaged('s3://some-other-bucket/3/abc');
      notManaged('https://example.com/3/abc');
      notManaged('relative/3/abc');
      const invalid = (uri: string) => {
        const err = thrownBy(() => store.scopeOf(uri));
        expect([err.kind, err.reason]).toEqual(['invalid_argument', 'INVALID_ARTIFACT_PATH']);
      };
      invalid(`${store.rootUri}/3/../../etc`);
      invalid(`${store.rootUri}/3/%2e%2e/%2e%2e/etc`);
      invalid(`${store.rootUri}/3/%252e%252e%252f%252e%252e`);
      invalid(`${store.rootUri}/3/abc?a=../..`);
      invalid(`${store.rootUri}/3/abc#frag`);
      invalid(`${store.rootUri}/3/..;/abc`);
    });

    it('refuses an upload whose size differs from the announced length, storing nothing', async () => {
      const { store, pendingUploads } = fixture();
      const scope = newScope();
      const bytes = randomBytes(10_000);
      for (const announced of [bytes.length - 1, bytes.length + 1]) {
        const err = await rejectionOf(
          store.put(scope, 'model.bin', bodyOf(bytes), { contentLength: announced }),
        );
        expect([err.kind, err.reason]).toEqual(['invalid_argument', 'ARTIFACT_SIZE_MISMATCH']);
        expect(err.details).toMatchObject({ path: 'model.bin', expected: String(announced) });
      }
      expect((await rejectionOf(store.get(scope, 'model.bin'))).reason).toBe('ARTIFACT_NOT_FOUND');
      expect(await store.list(scope)).toEqual([]);
      if (pendingUploads) expect(await pendingUploads(scope)).toBe(0);
    });

    it('leaves no partial artifact when the body fails mid-stream, and keeps the previous version', async () => {
      const { store, pendingUploads } = fixture();
      const scope = newScope();
      await putBytes(store, scope, 'weights.bin', Buffer.from('previous'));
      // Larger than one multipart part, so a part may already be stored when the body fails.
      const err = await rejectionOf(store.put(scope, 'weights.bin', failingBody(9 * MiB)));
      expect(err.message).toMatch(/client went away/);
      const err2 = await rejectionOf(store.put(scope, 'fresh.bin', failingBody(1000)));
      expect(err2.message).toMatch(/client went away/);
      expect((await readAll((await store.get(scope, 'weights.bin')).stream)).toString()).toBe('previous');
      expect((await rejectionOf(store.get(scope, 'fresh.bin'))).reason).toBe('ARTIFACT_NOT_FOUND');
      expect(await store.list(scope)).toStrictEqual([{ path: 'weights.bin', isDir: false, size: 8 }]);
      if (pendingUploads) expect(await pendingUploads(scope)).toBe(0);
    });

    it('keeps an upload invisible until it completes', async () => {
      const { store } = fixture();
      const scope = newScope();
      const body = new PassThrough();
      const first = randomBytes(MiB);
      const putting = store.put(scope, 'in-flight.bin', body);
      // write() returns false above the high-water mark; 'drain' means the store has read it.
      await new Promise<void>((resolve) => (body.write(first) ? resolve() : body.once('drain', resolve)));
      expect((await rejectionOf(store.get(scope, 'in-flight.bin'))).reason).toBe('ARTIFACT_NOT_FOUND');
      expect(await store.list(scope)).toEqual([]);
      body.end(Buffer.from('tail'));
      await expect(putting).resolves.toEqual({ path: 'in-flight.bin', size: MiB + 4 });
      expect(await store.list(scope)).toStrictEqual([{ path: 'in-flight.bin', isDir: false, size: MiB + 4 }]);
    });

    it('streams a 20 MiB upload and download without holding it in memory', async () => {
      const { store, afterLargeUpload } = fixture();
      const scope = newScope();
      const total = 20 * MiB;
      const { body, sha256: uploadedHash } = generatedBody(total);
      const stored = await store.put(scope, 'model/large.bin', body, { contentLength: total });
      expect(stored).toEqual({ path: 'model/large.bin', size: total });
      const got = await store.get(scope, 'model/large.bin');
      expect(got.size).toBe(total);
      const hash = createHash('sha256');
      let received = 0;
      for await (const chunk of got.stream) {
        const b = chunk as Buffer;
        received += b.length;
        hash.update(b);
      }
      expect(received).toBe(total);
      expect(hash.digest('hex')).toBe(uploadedHash());
      expect(await store.list(scope, 'model')).toStrictEqual([
        { path: 'model/large.bin', isDir: false, size: total },
      ]);
      await afterLargeUpload?.(scope, 'model/large.bin');
    });
  });
}

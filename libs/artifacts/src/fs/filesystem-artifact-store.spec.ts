import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  bodyOf,
  describeArtifactStoreContract,
  failingBody,
  readAll,
  rejectionOf,
  thrownBy,
} from '../../test/artifact-store.contract';
import { FilesystemArtifactStore, isInside } from './filesystem-artifact-store';

let base: string;
let root: string;
let store: FilesystemArtifactStore;

/** Every file under `dir`, recursively, relative to it (links listed, not followed). */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

beforeAll(async () => {
  // realpath: on some systems the temp directory itself is behind a symlink.
  base = await realpath(await mkdtemp(path.join(os.tmpdir(), 'cairn-artifacts-')));
  root = path.join(base, 'out');
  store = new FilesystemArtifactStore(root);
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describeArtifactStoreContract('filesystem', () => ({
  store,
  siblingUri: (scope) => pathToFileURL(path.join(`${root}not`, scope)).href,
  pendingUploads: async (scope) =>
    (await filesUnder(path.join(root, scope)).catch(() => [])).filter((f) => f.includes('.cairn-upload-'))
      .length,
}));

describe('filesystem artifact store', () => {
  it('writes files under <root>/<scope>/<path> and creates the root on first use', async () => {
    const fresh = new FilesystemArtifactStore(pathToFileURL(path.join(base, 'fresh', 'root')).href);
    expect(fresh.root).toBe(path.join(base, 'fresh', 'root'));
    expect(fresh.rootUri).toBe(pathToFileURL(path.join(base, 'fresh', 'root')).href);
    await fresh.put('1/abc/artifacts', 'model/MLmodel', bodyOf(Buffer.from('flavors: {}')));
    expect(await readFile(path.join(base, 'fresh/root/1/abc/artifacts/model/MLmodel'), 'utf8')).toBe(
      'flavors: {}',
    );
    expect(fresh.uriFor('1/abc/artifacts')).toBe(
      pathToFileURL(path.join(base, 'fresh/root/1/abc/artifacts')).href,
    );
  });

  it('requires an absolute root', () => {
    expect(() => new FilesystemArtifactStore('relative/root')).toThrow(/absolute path or a file:\/\/ URI/);
  });

  it('maps plain absolute paths and file://localhost URIs to scopes, but not other hosts', () => {
    expect(store.scopeOf(path.join(root, '3/abc/artifacts'))).toBe('3/abc/artifacts');
    expect(store.scopeOf(`file://localhost${root}/3/abc/artifacts`)).toBe('3/abc/artifacts');
    expect(store.scopeOf(`${store.rootUri}/my%20run/artifacts`)).toBe('my run/artifacts');
    expect(thrownBy(() => store.scopeOf(`file://evil.example${root}/3/abc`)).reason).toBe(
      'ARTIFACT_ROOT_NOT_MANAGED',
    );
    expect(thrownBy(() => store.scopeOf(`${root}not/3/abc`)).reason).toBe('ARTIFACT_ROOT_NOT_MANAGED');
    expect(thrownBy(() => store.scopeOf('//proc/self/root')).reason).toBe('ARTIFACT_ROOT_NOT_MANAGED');
  });

  it('leaves no temp file behind when an upload fails', async () => {
    const scope = '9/failing/artifacts';
    await store.put(scope, 'keep.txt', bodyOf(Buffer.from('keep')));
    await rejectionOf(store.put(scope, 'broken.bin', failingBody(100_000)));
    await rejectionOf(store.put(scope, 'short.bin', bodyOf(randomBytes(10)), { contentLength: 11 }));
    expect(await filesUnder(path.join(root, scope))).toEqual(['keep.txt']);
  });

  it('refuses to replace a directory with a file, or to write under a file', async () => {
    const scope = '9/conflicts/artifacts';
    await store.put(scope, 'model/MLmodel', bodyOf(Buffer.from('x')));
    const onDir = await rejectionOf(store.put(scope, 'model', bodyOf(Buffer.from('y'))));
    expect([onDir.kind, onDir.reason]).toEqual(['failed_precondition', 'ARTIFACT_PATH_CONFLICT']);
    const underFile = await rejectionOf(store.put(scope, 'model/MLmodel/inner', bodyOf(Buffer.from('z'))));
    expect(underFile.reason).toBe('ARTIFACT_PATH_CONFLICT');
    expect(await filesUnder(path.join(root, scope))).toEqual(['model', 'model/MLmodel']);
  });

  describe('symlinks planted inside the root', () => {
    let outside: string;
    const scope = '5/linked/artifacts';
    const scopeDir = () => path.join(root, scope);

    beforeAll(async () => {
      outside = path.join(base, 'outside');
      await mkdir(outside, { recursive: true });
      await writeFile(path.join(outside, 'secret.txt'), 'top secret');
      await store.put(scope, 'real/file.txt', bodyOf(Buffer.from('real')));
      await symlink(outside, path.join(scopeDir(), 'escape'));
      await symlink(path.join(outside, 'secret.txt'), path.join(scopeDir(), 'secret-link.txt'));
      // Shares the root's text as a prefix: only a separator-aware check catches it.
      await mkdir(`${root}not`, { recursive: true });
      await writeFile(path.join(`${root}not`, 'secret.txt'), 'sibling secret');
      await symlink(`${root}not`, path.join(scopeDir(), 'sibling'));
      await symlink(path.join(scopeDir(), 'real'), path.join(scopeDir(), 'alias'));
    });

    it('never writes through a link that leaves the root', async () => {
      for (const p of ['escape/planted.txt', 'escape/deeper/planted.txt', 'sibling/planted.txt']) {
        const err = await rejectionOf(store.put(scope, p, bodyOf(Buffer.from('pwned'))));
        expect([err.reason, err.message]).toEqual([
          'INVALID_ARTIFACT_PATH',
          expect.stringMatching(/outside the artifact root/),
        ]);
      }
      expect(await filesUnder(outside)).toEqual(['secret.txt']);
      expect(await filesUnder(`${root}not`)).toEqual(['secret.txt']);
    });

    it('never reads or lists through a link that leaves the root', async () => {
      expect((await rejectionOf(store.get(scope, 'escape/secret.txt'))).reason).toBe('INVALID_ARTIFACT_PATH');
      expect((await rejectionOf(store.get(scope, 'sibling/secret.txt'))).reason).toBe(
        'INVALID_ARTIFACT_PATH',
      );
      expect((await rejectionOf(store.list(scope, 'escape'))).reason).toBe('INVALID_ARTIFACT_PATH');
      expect((await rejectionOf(store.list(scope, 'sibling'))).reason).toBe('INVALID_ARTIFACT_PATH');
    });

    it('never reads a link as the last component, even one pointing inside', async () => {
      const err = await rejectionOf(store.get(scope, 'secret-link.txt'));
      expect([err.reason, err.message]).toEqual([
        'INVALID_ARTIFACT_PATH',
        expect.stringMatching(/symbolic link/),
      ]);
      await symlink(path.join(scopeDir(), 'real/file.txt'), path.join(scopeDir(), 'inner-link.txt'));
      expect((await rejectionOf(store.get(scope, 'inner-link.txt'))).reason).toBe('INVALID_ARTIFACT_PATH');
    });

    it('does not list links', async () => {
      expect((await store.list(scope)).map((e) => e.path)).toEqual(['real']);
    });

    it('follows a directory link that stays inside the root', async () => {
      const got = await store.get(scope, 'alias/file.txt');
      expect((await readAll(got.stream)).toString()).toBe('real');
      expect((await store.list(scope, 'alias')).map((e) => e.path)).toEqual(['alias/file.txt']);
    });

    it('replaces a link at the target path instead of writing through it', async () => {
      await symlink(path.join(outside, 'secret.txt'), path.join(scopeDir(), 'overwrite-me.txt'));
      await store.put(scope, 'overwrite-me.txt', bodyOf(Buffer.from('new content')));
      expect(await readFile(path.join(outside, 'secret.txt'), 'utf8')).toBe('top secret');
      expect((await readAll((await store.get(scope, 'overwrite-me.txt')).stream)).toString()).toBe(
        'new content',
      );
    });

    it('deletes links, not what they point to, and never deletes through them', async () => {
      expect((await rejectionOf(store.delete(scope, 'escape/secret.txt'))).reason).toBe(
        'INVALID_ARTIFACT_PATH',
      );
      await store.delete(scope, 'secret-link.txt');
      await store.delete(scope, 'escape');
      expect(await readFile(path.join(outside, 'secret.txt'), 'utf8')).toBe('top secret');
      await store.delete(scope, '');
      expect(await readFile(path.join(outside, 'secret.txt'), 'utf8')).toBe('top secret');
      expect(await readFile(path.join(`${root}not`, 'secret.txt'), 'utf8')).toBe('sibling secret');
    });

    it('refuses a scope directory that is itself a link out of the root', async () => {
      await mkdir(path.join(root, '6'), { recursive: true });
      await symlink(outside, path.join(root, '6', 'evil'));
      const err = await rejectionOf(store.put('6/evil/artifacts', 'x.txt', bodyOf(Buffer.from('x'))));
      expect(err.reason).toBe('INVALID_ARTIFACT_PATH');
      expect(await filesUnder(outside)).toEqual(['secret.txt']);
    });
  });
});

describe('isInside', () => {
  it('compares whole path segments', () => {
    expect(isInside('/usr/out', '/usr/out')).toBe(true);
    expect(isInside('/usr/out/x', '/usr/out')).toBe(true);
    expect(isInside('/usr/outnot', '/usr/out')).toBe(false);
    expect(isInside('/usr/outnot/x', '/usr/out')).toBe(false);
    expect(isInside('/usr', '/usr/out')).toBe(false);
    expect(isInside('/anything', '/')).toBe(true);
  });
});

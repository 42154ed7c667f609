import { createHash } from 'node:crypto';
import { addAbortSignal } from 'node:stream';
import { type ArtifactStore, confineArtifactPath } from '@cairn/artifacts';
import { AppError } from '@cairn/rpc';

/** Default cap on files (and, separately, directories) in one model artifact. */
export const DEFAULT_MANIFEST_MAX_FILES = 10_000;
/** Files hashed at once: hides per-object latency on S3 without opening a socket per file. */
const HASH_CONCURRENCY = 4;
export const MANIFEST_DIGEST = /^sha256:[0-9a-f]{64}$/;

export interface ManifestFile {
  /** Relative to the manifest root (the model directory; a single file's own name). */
  path: string;
  size: number;
  /** Lower-case hex SHA-256 of the file's bytes. */
  sha256: string;
}

/** What a model version records: its files and the digest that is signed. */
export interface ArtifactManifest {
  /** Sorted by the UTF-8 bytes of `path` (code point order, as Python and Go sort strings). */
  files: ManifestFile[];
  /** `sha256:<hex>` of `canonicalManifestJson(files)`. */
  digest: string;
}

export interface ComputeManifestOptions {
  maxFiles?: number;
  signal?: AbortSignal;
}

function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The exact bytes the digest covers, for SDKs and the CLI to reproduce: the UTF-8 encoding
 * of the JSON array of `{"path","sha256","size"}` objects, in the order given (sorted by
 * path), keys in that order, no whitespace, strings escaped as ECMAScript `JSON.stringify`
 * does and sizes as integers. For this shape (ASCII keys, strings, integers below 2^53) it
 * is byte-for-byte the RFC 8785 (JCS) canonical form, so any JCS library produces the same:
 * `[{"path":"MLmodel","sha256":"ab…","size":312},…]`.
 */
export function canonicalManifestJson(files: readonly ManifestFile[]): string {
  return JSON.stringify(files.map((f) => ({ path: f.path, sha256: f.sha256, size: f.size })));
}

/** `sha256:<hex>` of the canonical JSON of a sorted file list. */
export function manifestDigest(files: readonly ManifestFile[]): string {
  return `sha256:${createHash('sha256').update(canonicalManifestJson(files), 'utf8').digest('hex')}`;
}

function artifactEmpty(scope: string, path: string): AppError {
  return new AppError(
    'failed_precondition',
    'MODEL_ARTIFACT_EMPTY',
    `There are no files at ${JSON.stringify(path)} in ${JSON.stringify(scope)}`,
    { scope, path },
  );
}

function tooMany(what: 'files' | 'directories', max: number, scope: string, path: string): AppError {
  return new AppError(
    'failed_precondition',
    'MODEL_ARTIFACT_TOO_MANY_FILES',
    `The model artifact at ${JSON.stringify(path)} in ${JSON.stringify(scope)} has more than ${max} ${what}`,
    { scope, path, limit: String(max) },
  );
}

async function hashFile(
  store: ArtifactStore,
  scope: string,
  path: string,
  signal: AbortSignal | undefined,
): Promise<{ size: number; sha256: string }> {
  const { stream } = await store.get(scope, path);
  // Aborting destroys the stream, which ends the loop below with the abort error.
  if (signal) addAbortSignal(signal, stream);
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
  } finally {
    stream.destroy();
  }
  // The bytes actually hashed, not the announced size: the two differ only if the file
  // changed while it was read, and the digest must describe what was hashed.
  return { size, sha256: hash.digest('hex') };
}

/** Relative file paths (to the scope) under `root`, walked breadth-first with `store.list`. */
async function listFiles(
  store: ArtifactStore,
  scope: string,
  root: string,
  maxFiles: number,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const files: string[] = [];
  const pending = [root];
  let directories = 0;
  while (pending.length > 0) {
    signal?.throwIfAborted();
    const dir = pending.shift() as string;
    for (const entry of await store.list(scope, dir)) {
      if (entry.isDir) {
        // A tree of empty directories costs a listing each: bounded like files.
        if (++directories > maxFiles) throw tooMany('directories', maxFiles, scope, root);
        pending.push(entry.path);
      } else {
        if (files.length === maxFiles) throw tooMany('files', maxFiles, scope, root);
        files.push(entry.path);
      }
    }
  }
  return files;
}

/**
 * The manifest of the directory (or single file) at `path` in `scope`: every file streamed
 * through SHA-256, never held in memory. Throws `MODEL_ARTIFACT_EMPTY` when there is no file
 * there and `MODEL_ARTIFACT_TOO_MANY_FILES` beyond `maxFiles`.
 */
export async function computeManifest(
  store: ArtifactStore,
  scope: string,
  location: string,
  opts: ComputeManifestOptions = {},
): Promise<ArtifactManifest> {
  // Listings name entries by the normalized path (`model/` lists as `model/…`).
  const path = confineArtifactPath(location);
  const maxFiles = opts.maxFiles ?? DEFAULT_MANIFEST_MAX_FILES;
  const { signal } = opts;
  let sources = await listFiles(store, scope, path, maxFiles, signal);
  let relative: (p: string) => string = (p) => (path === '' ? p : p.slice(path.length + 1));
  if (sources.length === 0 && path !== '') {
    // `list` is empty for a file as well as for nothing: a single-file model is named by
    // its own file name, so the digest does not depend on where the file is stored.
    sources = [path];
    const name = path.slice(path.lastIndexOf('/') + 1);
    relative = () => name;
  }
  if (sources.length === 0) throw artifactEmpty(scope, path);
  // One failure stops the other workers instead of letting them read on for nothing.
  const stop = new AbortController();
  const cancel = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  const files = new Array<ManifestFile>(sources.length);
  let next = 0;
  const worker = async () => {
    while (next < sources.length) {
      const i = next++;
      cancel.throwIfAborted();
      try {
        files[i] = { path: relative(sources[i]), ...(await hashFile(store, scope, sources[i], cancel)) };
      } catch (err) {
        // Only the single-file probe can miss: a listed file deleted meanwhile is a real error.
        const probeMissed =
          err instanceof AppError && err.reason === 'ARTIFACT_NOT_FOUND' && sources[i] === path;
        if (!stop.signal.aborted) stop.abort(probeMissed ? artifactEmpty(scope, path) : err);
        throw err;
      }
    }
  };
  const results = await Promise.allSettled(
    Array.from({ length: Math.min(HASH_CONCURRENCY, sources.length) }, worker),
  );
  // The first failure (or the caller's abort), not a worker's echo of the abort it caused.
  if (results.some((r) => r.status === 'rejected')) {
    throw signal?.aborted ? signal.reason : stop.signal.reason;
  }
  files.sort((a, b) => byUtf8(a.path, b.path));
  return { files, digest: manifestDigest(files) };
}

/** The first file that differs between two manifests, in path order; `undefined` if none. */
export function firstDifference(
  recorded: readonly ManifestFile[],
  current: readonly ManifestFile[],
): { path: string; change: 'added' | 'removed' | 'modified' } | undefined {
  let i = 0;
  let j = 0;
  while (i < recorded.length || j < current.length) {
    const a = recorded[i];
    const b = current[j];
    const order = a === undefined ? 1 : b === undefined ? -1 : byUtf8(a.path, b.path);
    if (order < 0) return { path: a.path, change: 'removed' };
    if (order > 0) return { path: b.path, change: 'added' };
    if (a.sha256 !== b.sha256 || a.size !== b.size) return { path: a.path, change: 'modified' };
    i++;
    j++;
  }
  return undefined;
}

import type { Readable } from 'node:stream';

/** One entry of a directory listing, as MLflow's `list_artifacts` returns it. */
export interface ArtifactEntry {
  /** Relative to the scope, e.g. `model/MLmodel`. */
  path: string;
  isDir: boolean;
  /** Bytes; absent for directories. */
  size?: number;
}

export interface PutArtifactOptions {
  /** The size the caller announced; an upload that carries a different count is refused. */
  contentLength?: number;
}

export interface StoredArtifact {
  /** The confined path the artifact was stored under. */
  path: string;
  size: number;
}

export interface ArtifactContent {
  /** Holds a file handle or a connection: consume it to the end or destroy it. */
  stream: Readable;
  size: number;
}

/**
 * The artifact store port. Every operation addresses a scope (a run's or experiment's
 * artifact root relative to the store root, e.g. `3/6f1c…/artifacts`) and a path inside
 * it; both are confined with `confineArtifactPath` rules before anything is touched.
 * Contents are streamed both ways: no adapter holds a whole artifact in memory.
 */
export interface ArtifactStore {
  readonly kind: 'file' | 's3';
  /** The store root as a URI: `file:///…` or `s3://bucket/prefix`. */
  readonly rootUri: string;

  /**
   * Writes `body` at `path`, replacing what was there, atomically: a failed or aborted
   * upload leaves nothing behind. The store owns `body` and destroys it on failure.
   */
  put(scope: string, path: string, body: Readable, opts?: PutArtifactOptions): Promise<StoredArtifact>;
  /** Opens the artifact at `path`; throws `ARTIFACT_NOT_FOUND` when there is none. */
  get(scope: string, path: string): Promise<ArtifactContent>;
  /**
   * The direct children of the directory `path` (default: the scope itself), sorted by path;
   * `[]` when `path` is a file or does not exist.
   */
  list(scope: string, path?: string): Promise<ArtifactEntry[]>;
  /** Deletes the file or the whole subtree at `path` (`''`: the whole scope); missing is fine. */
  delete(scope: string, path: string): Promise<void>;
  /** The full URI of a scope, to record as a run's or experiment's artifact location. */
  uriFor(scope: string): string;
  /**
   * The scope of a URI under this store's root (the inverse of `uriFor`); throws
   * `ARTIFACT_ROOT_NOT_MANAGED` for locations elsewhere and `INVALID_ARTIFACT_PATH` for
   * hostile ones (`..`, `?`, `#`, after decoding).
   */
  scopeOf(uri: string): string;
  /** Releases clients and sockets. */
  close(): Promise<void>;
}

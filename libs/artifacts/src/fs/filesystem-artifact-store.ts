import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AppError } from '@cairn/rpc';
import {
  artifactNotFound,
  artifactPathConflict,
  artifactRootNotManaged,
  invalidArtifactPath,
} from '../artifact-errors';
import {
  assertSafeLocation,
  confineArtifactPath,
  confineArtifactScope,
  joinArtifactPath,
} from '../artifact-path';
import type {
  ArtifactContent,
  ArtifactEntry,
  ArtifactStore,
  PutArtifactOptions,
  StoredArtifact,
} from '../artifact-store.port';
import { ByteCounter } from '../byte-counter';

/** In-flight uploads: written next to their target, renamed into place, never listed. */
const UPLOAD_TEMP = /^\.cairn-upload-[0-9a-f]{16}\.tmp$/;

function codeOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
}

function missing(err: unknown): boolean {
  const code = codeOf(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Separator-aware: `/usr/outnot` is not inside `/usr/out`. */
export function isInside(child: string, parent: string): boolean {
  if (child === parent) return true;
  const prefix = parent.endsWith(path.sep) ? parent : parent + path.sep;
  return child.startsWith(prefix);
}

/** An absolute directory given as a path or a `file://` URI, normalized. */
export function fileRootPath(root: string): string {
  const asPath = /^file:/i.test(root) ? fileURLToPath(root) : root;
  if (!path.isAbsolute(asPath)) {
    throw new Error(
      `The artifact root must be an absolute path or a file:// URI, got ${JSON.stringify(root)}`,
    );
  }
  return path.resolve(asPath);
}

/**
 * Artifacts as files under one root directory (the embedded default). Writes go to a temp
 * file in the target directory and are renamed into place, so readers never see a partial
 * artifact. Symlinks inside the root are followed only while they stay inside it, and never
 * as the last component of a file path.
 */
export class FilesystemArtifactStore implements ArtifactStore {
  readonly kind = 'file' as const;
  readonly root: string;
  readonly rootUri: string;
  private realRoot?: Promise<string>;

  /** @param root an absolute directory or `file://` URI; created on first use. */
  constructor(root: string) {
    this.root = fileRootPath(root);
    this.rootUri = pathToFileURL(this.root).href;
  }

  async put(
    scope: string,
    artifactPath: string,
    body: Readable,
    opts: PutArtifactOptions = {},
  ): Promise<StoredArtifact> {
    try {
      const s = confineArtifactScope(scope);
      const rel = confineArtifactPath(artifactPath);
      if (rel === '') throw invalidArtifactPath(artifactPath, 'must name a file');
      const dir = await this.walk(joinArtifactPath(s, parentOf(rel)), {
        create: true,
        scope: s,
        path: rel,
      });
      if (!dir) throw artifactPathConflict(s, rel, 'a file stands where a directory is needed');
      const target = path.join(dir, path.posix.basename(rel));
      if ((await lstatOrUndefined(target))?.isDirectory()) {
        throw artifactPathConflict(s, rel, 'a directory exists at that path');
      }
      const temp = path.join(dir, `.cairn-upload-${randomBytes(8).toString('hex')}.tmp`);
      const counter = new ByteCounter(rel, opts.contentLength);
      try {
        // O_EXCL | O_NOFOLLOW: the temp name is ours alone, never a planted link.
        const handle = await open(
          temp,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o644,
        );
        await pipeline(body, counter, handle.createWriteStream({ flush: true }));
        // rename replaces a symlink at the target itself, never the file it points to.
        await rename(temp, target).catch((err: unknown) => {
          const code = codeOf(err);
          // A directory appeared at the target since the check above.
          if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
            throw artifactPathConflict(s, rel, 'a directory exists at that path');
          }
          throw err;
        });
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      }
      return { path: rel, size: counter.bytes };
    } finally {
      // The store owns the body: an upload refused before reading it must not leave it hanging.
      if (!body.destroyed && !body.readableEnded) body.destroy();
    }
  }

  async get(scope: string, artifactPath: string): Promise<ArtifactContent> {
    const s = confineArtifactScope(scope);
    const rel = confineArtifactPath(artifactPath);
    if (rel === '') throw invalidArtifactPath(artifactPath, 'must name a file');
    const dir = await this.walk(joinArtifactPath(s, parentOf(rel)), {
      create: false,
      scope: s,
      path: rel,
    });
    if (!dir) throw artifactNotFound(s, rel);
    let handle;
    try {
      handle = await open(
        path.join(dir, path.posix.basename(rel)),
        constants.O_RDONLY | constants.O_NOFOLLOW,
      );
    } catch (err) {
      if (missing(err)) throw artifactNotFound(s, rel);
      if (codeOf(err) === 'ELOOP' || codeOf(err) === 'EMLINK') {
        throw invalidArtifactPath(rel, 'is a symbolic link');
      }
      throw err;
    }
    const info = await handle.stat().catch(async (err: unknown) => {
      await handle.close();
      throw err;
    });
    if (!info.isFile()) {
      await handle.close();
      throw artifactNotFound(s, rel);
    }
    return { stream: handle.createReadStream(), size: info.size };
  }

  async list(scope: string, artifactPath = ''): Promise<ArtifactEntry[]> {
    const s = confineArtifactScope(scope);
    const rel = confineArtifactPath(artifactPath);
    const dir = await this.walk(joinArtifactPath(s, rel), { create: false, scope: s, path: rel });
    if (!dir) return [];
    let names;
    try {
      names = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (missing(err)) return [];
      throw err;
    }
    const entries = await Promise.all(
      names.map(async (d): Promise<ArtifactEntry | undefined> => {
        // Links are not served by get, so they are not listed either.
        if (d.isSymbolicLink() || UPLOAD_TEMP.test(d.name)) return undefined;
        const entryPath = joinArtifactPath(rel, d.name);
        if (d.isDirectory()) return { path: entryPath, isDir: true };
        if (!d.isFile()) return undefined;
        const info = await lstatOrUndefined(path.join(dir, d.name));
        return info?.isFile() ? { path: entryPath, isDir: false, size: info.size } : undefined;
      }),
    );
    return entries
      .filter((e): e is ArtifactEntry => e !== undefined)
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async delete(scope: string, artifactPath: string): Promise<void> {
    const s = confineArtifactScope(scope);
    const rel = confineArtifactPath(artifactPath);
    const full = joinArtifactPath(s, rel);
    const parent = await this.walk(parentOf(full), {
      create: false,
      scope: s,
      path: rel,
    });
    if (!parent) return;
    const target = path.join(parent, path.posix.basename(full));
    const info = await lstatOrUndefined(target);
    if (!info) return;
    // rm removes links themselves, never what they point to, also inside a subtree.
    await rm(target, { recursive: info.isDirectory(), force: true });
  }

  uriFor(scope: string): string {
    return pathToFileURL(path.join(this.root, confineArtifactScope(scope))).href;
  }

  scopeOf(uri: string): string {
    assertSafeLocation(uri);
    let located: string;
    if (/^file:/i.test(uri)) {
      let url: URL;
      try {
        url = new URL(uri);
        if (url.host !== '' && url.host !== 'localhost') throw artifactRootNotManaged(uri, this.rootUri);
        located = fileURLToPath(url);
      } catch (err) {
        if (err instanceof AppError) throw err;
        throw invalidArtifactPath(uri, 'is not a valid file URI');
      }
    } else if (uri.startsWith('/')) {
      located = uri;
    } else {
      throw artifactRootNotManaged(uri, this.rootUri);
    }
    located = path.resolve(located);
    if (located === this.root || !isInside(located, this.root))
      throw artifactRootNotManaged(uri, this.rootUri);
    const rest = located.slice(this.root.endsWith(path.sep) ? this.root.length : this.root.length + 1);
    return confineArtifactScope(rest.split(path.sep).join('/'));
  }

  async close(): Promise<void> {
    // Nothing held open between calls.
  }

  private rootReal(): Promise<string> {
    if (!this.realRoot) {
      const resolving = (async () => {
        await mkdir(this.root, { recursive: true });
        return realpath(this.root);
      })();
      this.realRoot = resolving;
      resolving.catch(() => {
        if (this.realRoot === resolving) this.realRoot = undefined;
      });
    }
    return this.realRoot;
  }

  /**
   * The real path of directory `rel` (relative to the root), walked one component at a time
   * so that nothing is created or read through a link leading out of the root. Returns
   * undefined when it does not exist (or a file stands in the way) and `create` is false.
   */
  private async walk(
    rel: string,
    ctx: { create: boolean; scope: string; path: string },
  ): Promise<string | undefined> {
    const root = await this.rootReal();
    let current = root;
    for (const part of rel.split('/').filter((p) => p !== '')) {
      let next = path.join(current, part);
      let info: Stats | undefined = await lstatOrUndefined(next);
      if (!info && ctx.create) {
        try {
          await mkdir(next);
        } catch (err) {
          if (codeOf(err) !== 'EEXIST') throw err;
        }
        info = await lstatOrUndefined(next);
      }
      if (!info) return undefined;
      if (info.isSymbolicLink()) {
        let target: string;
        try {
          target = await realpath(next);
        } catch (err) {
          // A dangling link: nothing to read through it, and nothing may be created through it.
          if (missing(err) || codeOf(err) === 'ELOOP') {
            if (ctx.create) throw this.escape(ctx);
            return undefined;
          }
          throw err;
        }
        if (!isInside(target, root)) throw this.escape(ctx);
        next = target;
        info = await stat(target);
      }
      if (!info.isDirectory()) {
        if (ctx.create)
          throw artifactPathConflict(ctx.scope, ctx.path, 'a file stands where a directory is needed');
        return undefined;
      }
      current = next;
    }
    return current;
  }

  private escape(ctx: { scope: string; path: string }): AppError {
    return invalidArtifactPath(joinArtifactPath(ctx.scope, ctx.path), 'resolves outside the artifact root');
  }
}

/** The parent of a confined relative path, `''` at the top. */
function parentOf(rel: string): string {
  const parent = path.posix.dirname(rel);
  return parent === '.' ? '' : parent;
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (err) {
    if (missing(err)) return undefined;
    throw err;
  }
}

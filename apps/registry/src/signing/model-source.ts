import { type ArtifactStore, confineArtifactPath } from '@cairn/artifacts';
import { AppError } from '@cairn/rpc';
import { RUN_ID } from '../validation/registry-validation';

/**
 * MLflow's limit: `model_versions.source` is a VARCHAR(500) in its SQL store, so no MLflow
 * client sends more. Checked before any decoding, so a huge value costs nothing.
 */
export const MAX_MODEL_SOURCE_LENGTH = 500;
/** Deeper nesting than this is not a location anyone meant; it is an attack on a decoder. */
const MAX_DECODE_ROUNDS = 8;

// C0 and C1 controls, DEL and NUL (MLflow's own check catches `%00`).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/**
 * Characters a shell gives meaning to. A source never reaches a shell in Cairn, but
 * downstream tools (serving images, `mlflow models serve` wrappers) have interpolated model
 * URIs into command lines (CVE-2026-0596), and no legitimate artifact location needs them.
 * `;` doubles as a URL path parameter (CVE-2024-1593).
 */
const SHELL_METACHARACTERS = /[;|&$`<>(){}'"!*]/;
const SCHEME = /^([a-z][a-z0-9+.-]*):(.*)$/is;
const PERCENT_RUN = /(?:%[0-9a-f]{2})+/gi;

/** Every reason a model-version source is refused, with the kind of error it is. */
export const MODEL_SOURCE_REASONS = [
  'MODEL_SOURCE_EMPTY',
  'MODEL_SOURCE_TOO_LONG',
  'MODEL_SOURCE_INVALID_CHARACTERS',
  'MODEL_SOURCE_MALFORMED_ENCODING',
  'MODEL_SOURCE_BACKSLASH',
  'MODEL_SOURCE_QUERY_OR_FRAGMENT',
  'MODEL_SOURCE_PATH_TRAVERSAL',
  'MODEL_SOURCE_SHELL_METACHARACTERS',
  'MODEL_SOURCE_NO_SCHEME',
  'MODEL_SOURCE_UNSUPPORTED_SCHEME',
  'MODEL_SOURCE_MODELS_URI',
  'MODEL_SOURCE_FOREIGN_HOST',
  'MODEL_SOURCE_MALFORMED',
  'MODEL_SOURCE_OUTSIDE_STORE',
  'MODEL_SOURCE_INVALID_PATH',
] as const;
export type ModelSourceReason = (typeof MODEL_SOURCE_REASONS)[number];

export interface ModelSourceContext {
  store: ArtifactStore;
  /**
   * The artifact URI of a run, from the registry's run projection; `undefined` when the run
   * is unknown. Without it, `runs:/` sources are refused.
   */
  runArtifactUri?: (runId: string) => Promise<string | undefined>;
}

/** Where a model version's files live: the canonical URI and its place in the artifact store. */
export interface ResolvedModelSource {
  /** Canonical store URI of the location (`file:///…` or `s3://…`), whatever form was given. */
  uri: string;
  /** The artifact-store scope (for runs: the run's artifact root, e.g. `3/6f1c…/artifacts`). */
  scope: string;
  /** The location inside the scope; `''` for the scope itself. */
  path: string;
}

function shown(value: string): string {
  return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
}

function refused(reason: ModelSourceReason, source: string, why: string): AppError {
  return new AppError('invalid_argument', reason, `Invalid model version source ${shown(source)}: ${why}`, {
    source: source.length > MAX_MODEL_SOURCE_LENGTH ? source.slice(0, MAX_MODEL_SOURCE_LENGTH) : source,
  });
}

/**
 * The raw source, then one entry per percent-decoding round until it is stable, as proxies,
 * URL routers and artifact repositories would each decode it once more. Invalid UTF-8
 * escapes (overlong `%c0%ae`) are refused rather than guessed at.
 */
function decodedForms(source: string): string[] {
  const forms = [source];
  let current = source;
  for (let round = 0; ; round++) {
    let next: string;
    try {
      next = current.replace(PERCENT_RUN, (run) => decodeURIComponent(run));
    } catch {
      throw refused('MODEL_SOURCE_MALFORMED_ENCODING', source, 'percent-escapes are not valid UTF-8');
    }
    if (next === current) return forms;
    if (round === MAX_DECODE_ROUNDS) {
      throw refused('MODEL_SOURCE_MALFORMED_ENCODING', source, 'too many layers of percent-encoding');
    }
    forms.push(next);
    current = next;
  }
}

function hasTraversal(form: string): boolean {
  // Without the scheme, so `file:..` and `runs:..` are segments like any other.
  const rest = SCHEME.exec(form)?.[2] ?? form;
  return rest.split('/').includes('..') || form.split('/').includes('..');
}

/** The first problem in one decoded form, checked also under NFKC (fullwidth `．．／`, `＼`). */
function problemIn(form: string): [ModelSourceReason, string] | undefined {
  for (const f of [form, form.normalize('NFKC')]) {
    if (CONTROL.test(f)) return ['MODEL_SOURCE_INVALID_CHARACTERS', 'must not contain control characters'];
    if (LONE_SURROGATE.test(f)) return ['MODEL_SOURCE_INVALID_CHARACTERS', 'must be valid Unicode'];
    if (f.includes('\\')) {
      return ['MODEL_SOURCE_BACKSLASH', 'must not contain backslashes (they are separators on Windows)'];
    }
    if (f.includes('?') || f.includes('#')) {
      return [
        'MODEL_SOURCE_QUERY_OR_FRAGMENT',
        "must not contain a query or fragment ('?' or '#'); they hide path segments from checks",
      ];
    }
    if (hasTraversal(f)) return ['MODEL_SOURCE_PATH_TRAVERSAL', "must not contain '..' segments"];
    if (SHELL_METACHARACTERS.test(f)) {
      return ['MODEL_SOURCE_SHELL_METACHARACTERS', 'must not contain shell metacharacters such as ; $ ` | &'];
    }
  }
  return undefined;
}

/** The checks that do not depend on the scheme, on every decoded form of the source. */
function assertCleanSource(source: string): void {
  if (typeof source !== 'string' || source.trim() === '') {
    throw refused('MODEL_SOURCE_EMPTY', String(source ?? ''), 'a model version needs a source');
  }
  if (source.length > MAX_MODEL_SOURCE_LENGTH) {
    throw refused('MODEL_SOURCE_TOO_LONG', source, `must be at most ${MAX_MODEL_SOURCE_LENGTH} characters`);
  }
  for (const form of decodedForms(source)) {
    const problem = problemIn(form);
    if (problem) throw refused(problem[0], source, problem[1]);
  }
}

/**
 * Re-raises the artifact library's refusals as source refusals, so the caller sees one
 * family of reason codes and the source as given.
 */
function asSourceError(err: unknown, source: string, outside: string): unknown {
  if (!(err instanceof AppError)) return err;
  if (err.reason === 'ARTIFACT_ROOT_NOT_MANAGED')
    return refused('MODEL_SOURCE_OUTSIDE_STORE', source, outside);
  if (err.reason === 'INVALID_ARTIFACT_PATH')
    return refused('MODEL_SOURCE_INVALID_PATH', source, err.message);
  return err;
}

/**
 * Splits a location relative to the store root into a scope and a path. MLflow's layout
 * `<experiment>/<run>/artifacts/…` gives the run's artifact root as the scope, as `runs:/`
 * sources do; anything else is split at its last segment so that a single file is still
 * addressable (a scope is never empty, and `get` needs a non-empty path).
 */
function splitLocation(location: string): { scope: string; path: string } {
  const segments = location.split('/');
  if (segments.length >= 3 && segments[2] === 'artifacts') {
    return { scope: segments.slice(0, 3).join('/'), path: segments.slice(3).join('/') };
  }
  if (segments.length === 1) return { scope: location, path: '' };
  return { scope: segments.slice(0, -1).join('/'), path: segments[segments.length - 1] };
}

function resolved(store: ArtifactStore, scope: string, path: string): ResolvedModelSource {
  return { uri: store.uriFor(path === '' ? scope : `${scope}/${path}`), scope, path };
}

async function resolveRunsUri(source: string, rest: string, ctx: ModelSourceContext) {
  // `runs:/<id>/<path>` or `runs:///<id>/<path>`; `runs://<profile>/…` names a Databricks
  // workspace, which this registry cannot read.
  const match = /^(?:\/\/([^/]*))?\/([^/]*)(?:\/(.*))?$/s.exec(rest);
  if (!match) throw refused('MODEL_SOURCE_MALFORMED', source, 'a runs: source is runs:/<run_id>/<path>');
  const [, authority, runId, artifactPath = ''] = match;
  if (authority) {
    throw refused(
      'MODEL_SOURCE_FOREIGN_HOST',
      source,
      `runs://${authority}/… names another workspace; use runs:/<run_id>/<path>`,
    );
  }
  if (!RUN_ID.test(runId)) {
    throw refused(
      'MODEL_SOURCE_MALFORMED',
      source,
      `${shown(runId)} is not a run id (runs:/<run_id>/<path>)`,
    );
  }
  if (!ctx.runArtifactUri) {
    throw new AppError(
      'failed_precondition',
      'RUN_RESOLUTION_UNAVAILABLE',
      `Cannot resolve ${shown(source)}: runs:/ sources need the run projection`,
      { source },
    );
  }
  const artifactUri = await ctx.runArtifactUri(runId);
  if (artifactUri === undefined) {
    throw new AppError(
      'not_found',
      'RUN_NOT_FOUND',
      `Run ${shown(runId)} of source ${shown(source)} not found`,
      {
        runId,
        source,
      },
    );
  }
  let scope: string;
  let path: string;
  try {
    scope = ctx.store.scopeOf(artifactUri);
    path = confineArtifactPath(artifactPath);
  } catch (err) {
    throw asSourceError(
      err,
      source,
      `the run's artifact location ${shown(artifactUri)} is not in the artifact store`,
    );
  }
  return resolved(ctx.store, scope, path);
}

function resolveMlflowArtifactsUri(source: string, rest: string, store: ArtifactStore): ResolvedModelSource {
  // `mlflow-artifacts:/<path>` and `mlflow-artifacts:///<path>` are relative to the store
  // root. With a host, MLflow's client talks to that server: its artifacts are not ours to
  // vouch for, even if the host happens to be this platform under another name.
  const match = /^(?:\/\/([^/]*))?\/(.*)$/s.exec(rest);
  if (!match) {
    throw refused(
      'MODEL_SOURCE_MALFORMED',
      source,
      'an mlflow-artifacts: source is mlflow-artifacts:/<path>',
    );
  }
  const [, authority, location] = match;
  if (authority) {
    throw refused(
      'MODEL_SOURCE_FOREIGN_HOST',
      source,
      `names artifacts served by ${shown(authority)}; use mlflow-artifacts:/<path> for this platform's store`,
    );
  }
  let confined: string;
  try {
    confined = confineArtifactPath(location);
  } catch (err) {
    throw asSourceError(err, source, 'is not in the artifact store');
  }
  if (confined === '') {
    throw refused(
      'MODEL_SOURCE_OUTSIDE_STORE',
      source,
      'names the artifact store root itself; a model version names a directory or file under it',
    );
  }
  const { scope, path } = splitLocation(confined);
  return resolved(store, scope, path);
}

function resolveStoreUri(source: string, store: ArtifactStore): ResolvedModelSource {
  let location: string;
  try {
    // scopeOf maps the URI onto the root with a separator-aware prefix check, after its own
    // decoding checks; the root itself and sibling directories (`/rootnot`) are refused.
    location = store.scopeOf(source);
  } catch (err) {
    throw asSourceError(err, source, `is not under the artifact store root ${shown(store.rootUri)}`);
  }
  const { scope, path } = splitLocation(location);
  return resolved(store, scope, path);
}

/**
 * Resolves a model-version source to a location confined inside the artifact store, or
 * refuses it with `INVALID_ARGUMENT` and a `MODEL_SOURCE_*` reason. Accepted forms:
 * `runs:/<run_id>/<path>` (through the run's artifact URI; unknown run: `NOT_FOUND`
 * `RUN_NOT_FOUND`), `mlflow-artifacts:/<path>` (under the store root), and absolute URIs of
 * the configured store (`s3://bucket/prefix/…` or `file:///root/…`). Every percent-decoded
 * form of the source is checked, so double-encoded traversal fails like plain `../`.
 */
export async function resolveModelSource(
  source: string,
  ctx: ModelSourceContext,
): Promise<ResolvedModelSource> {
  assertCleanSource(source);
  const scheme = SCHEME.exec(source);
  if (!scheme) {
    throw refused(
      'MODEL_SOURCE_NO_SCHEME',
      source,
      source.startsWith('//')
        ? 'a network-path reference without a scheme is read as a local path by some clients (CVE-2023-6977)'
        : 'local paths are not accepted; use runs:/<run_id>/<path> or a URI of the artifact store',
    );
  }
  const [, rawScheme, rest] = scheme;
  const name = rawScheme.toLowerCase();
  switch (name) {
    case 'runs':
      return resolveRunsUri(source, rest, ctx);
    case 'mlflow-artifacts':
      return resolveMlflowArtifactsUri(source, rest, ctx.store);
    case 'file':
    case 's3':
      return resolveStoreUri(source, ctx.store);
    case 'models':
      throw refused(
        'MODEL_SOURCE_MODELS_URI',
        source,
        'a model version cannot point at another registered model or version: its artifacts would change ' +
          'when that reference moves, defeating the recorded digest and signature; register the ' +
          "referenced version's own source (runs:/… or a store URI) instead",
      );
    default:
      throw refused(
        'MODEL_SOURCE_UNSUPPORTED_SCHEME',
        source,
        rawScheme.length === 1
          ? 'looks like a Windows drive path; local paths are not accepted'
          : `scheme ${shown(rawScheme)} is not supported; use runs:/, mlflow-artifacts:/ or ${shown(
              ctx.store.rootUri,
            )}`,
      );
  }
}

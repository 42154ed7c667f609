import { invalidArtifactPath } from './artifact-errors';

/** Longest artifact path (or scope) accepted, in UTF-16 code units, before any decoding. */
export const MAX_ARTIFACT_PATH_LENGTH = 1024;
/** Longest single segment in UTF-8 bytes: NAME_MAX on common filesystems. */
const MAX_SEGMENT_BYTES = 255;
/** Deeper nesting than this is not a file name anyone meant; it is an attack on a decoder. */
const MAX_DECODE_ROUNDS = 8;

// C0 and C1 controls, DEL and NUL.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** `file:`, `s3:`, `mlflow-artifacts:`, and drive letters (`C:`) alike. */
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;
const PERCENT_RUN = /(?:%[0-9a-f]{2})+/gi;

/**
 * Every form a path takes as decoders along the way (proxies, URL routers, clients) each
 * decode it once more: the raw string first, then one entry per round until it is stable.
 * A `%` not followed by two hex digits is a literal. Percent-escapes that are not valid
 * UTF-8 (overlong `%c0%ae` and friends) are refused rather than guessed at.
 */
function decodedForms(raw: string): string[] {
  const forms = [raw];
  let current = raw;
  for (let round = 0; ; round++) {
    let next: string;
    try {
      next = current.replace(PERCENT_RUN, (run) => decodeURIComponent(run));
    } catch {
      throw invalidArtifactPath(raw, 'malformed percent-encoding');
    }
    if (next === current) return forms;
    if (round === MAX_DECODE_ROUNDS) throw invalidArtifactPath(raw, 'too many layers of percent-encoding');
    forms.push(next);
    current = next;
  }
}

function traversalIn(form: string): string | undefined {
  if (form.includes('\\')) return 'must not contain backslashes';
  if (form.startsWith('/')) return 'must be relative, not absolute';
  if (form.split('/').includes('..')) return "must not contain '..' segments";
  return undefined;
}

function problemIn(form: string): string | undefined {
  if (CONTROL.test(form)) return 'must not contain control characters';
  if (LONE_SURROGATE.test(form)) return 'must be valid Unicode';
  const traversal = traversalIn(form);
  if (traversal) return traversal;
  if (form.includes(';')) return "must not contain ';' (path parameters)";
  if (form.includes('?') || form.includes('#')) return "must not contain '?' or '#'";
  if (SCHEME.test(form)) return 'must be a relative path, not a URI or a drive path';
  // Compatibility forms (fullwidth dots and solidi) become traversal under NFKC normalization.
  return traversalIn(form.normalize('NFKC'));
}

/**
 * Confines a user-supplied artifact path: returns it as a normalized POSIX relative path
 * (empty segments collapsed, `.` segments dropped, `''` for the root), or throws
 * `AppError('invalid_argument', 'INVALID_ARTIFACT_PATH')`. Every percent-decoded form is
 * checked, so `%2e%2e%2f` and `%252e%252e%252f` fail like `../`; the returned path keeps
 * its characters as given (a file named `100%25` stays `100%25`).
 */
export function confineArtifactPath(path: string): string {
  if (typeof path !== 'string') throw invalidArtifactPath(String(path), 'must be a string');
  if (path.length > MAX_ARTIFACT_PATH_LENGTH) {
    throw invalidArtifactPath(path, `must be at most ${MAX_ARTIFACT_PATH_LENGTH} characters`);
  }
  for (const form of decodedForms(path)) {
    const problem = problemIn(form);
    if (problem) throw invalidArtifactPath(path, problem);
  }
  const segments = path.split('/').filter((s) => s !== '' && s !== '.');
  for (const segment of segments) {
    if (Buffer.byteLength(segment, 'utf8') > MAX_SEGMENT_BYTES) {
      throw invalidArtifactPath(path, `each segment must be at most ${MAX_SEGMENT_BYTES} bytes`);
    }
  }
  return segments.join('/');
}

/**
 * Confines a scope (a run's or experiment's artifact root relative to the store root) with
 * the same rules; a scope is never empty, so no operation can address the whole store.
 */
export function confineArtifactScope(scope: string): string {
  const confined = confineArtifactPath(scope);
  if (confined === '') throw invalidArtifactPath(scope, 'an artifact scope must not be empty');
  return confined;
}

/** Longest artifact location URI accepted by `scopeOf`. */
const MAX_LOCATION_LENGTH = 4096;

/**
 * Refuses an artifact location (a URI or absolute path about to be mapped onto a scope) that
 * carries traversal or URI tricks in any decoded form: `..` segments, `?` queries, `#`
 * fragments, backslashes, control characters. Whether it lies under the root is the
 * caller's business.
 */
export function assertSafeLocation(uri: string): void {
  if (typeof uri !== 'string') throw invalidArtifactPath(String(uri), 'must be a string');
  if (uri.length > MAX_LOCATION_LENGTH) {
    throw invalidArtifactPath(uri, `must be at most ${MAX_LOCATION_LENGTH} characters`);
  }
  for (const form of decodedForms(uri)) {
    let problem: string | undefined;
    if (CONTROL.test(form)) problem = 'must not contain control characters';
    else if (LONE_SURROGATE.test(form)) problem = 'must be valid Unicode';
    else if (form.includes('?') || form.includes('#')) problem = "must not contain '?' or '#'";
    else if (form.includes(';')) problem = "must not contain ';' (path parameters)";
    else if (form.includes('\\') || form.normalize('NFKC').includes('\\'))
      problem = 'must not contain backslashes';
    else if (form.split('/').includes('..') || form.normalize('NFKC').split('/').includes('..')) {
      problem = "must not contain '..' segments";
    }
    if (problem) throw invalidArtifactPath(uri, problem);
  }
}

/** Joins confined parts with `/`, skipping empty ones. */
export function joinArtifactPath(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/');
}

import { AppError } from '@cairn/rpc';

/** Long or binary offenders are shown shortened and JSON-escaped in messages (never raw). */
export function shown(value: string): string {
  return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
}

export function invalidArtifactPath(path: string, why: string): AppError {
  return new AppError(
    'invalid_argument',
    'INVALID_ARTIFACT_PATH',
    `Invalid artifact path ${shown(path)}: ${why}`,
    {
      path: path.length > 1024 ? path.slice(0, 1024) : path,
    },
  );
}

export function artifactNotFound(scope: string, path: string): AppError {
  return new AppError('not_found', 'ARTIFACT_NOT_FOUND', `No artifact at ${shown(path)} in ${shown(scope)}`, {
    scope,
    path,
  });
}

export function artifactRootNotManaged(uri: string, root: string): AppError {
  return new AppError(
    'failed_precondition',
    'ARTIFACT_ROOT_NOT_MANAGED',
    `Artifact location ${shown(uri)} is not under the artifact store root ${shown(root)}`,
    { uri: uri.length > 1024 ? uri.slice(0, 1024) : uri },
  );
}

/** A file where a directory is needed, or the reverse (only the filesystem store can tell). */
export function artifactPathConflict(scope: string, path: string, why: string): AppError {
  return new AppError(
    'failed_precondition',
    'ARTIFACT_PATH_CONFLICT',
    `Cannot write ${shown(path)} in ${shown(scope)}: ${why}`,
    { scope, path },
  );
}

export function artifactSizeMismatch(path: string, expected: number, actual: number): AppError {
  return new AppError(
    'invalid_argument',
    'ARTIFACT_SIZE_MISMATCH',
    `Artifact ${shown(path)} declared ${expected} bytes but the upload carried ${actual === -1 ? 'more' : actual}`,
    { path, expected: String(expected), actual: actual === -1 ? `>${expected}` : String(actual) },
  );
}

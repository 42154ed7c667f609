import { AppError } from '@cairn/rpc';
import {
  assertSafeLocation,
  confineArtifactPath,
  confineArtifactScope,
  MAX_ARTIFACT_PATH_LENGTH,
} from './artifact-path';

function rejection(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    return err as AppError;
  }
  throw new Error('expected a rejection');
}

/** Hostile artifact paths from MLflow CVEs (ANCHORS.md, Security) and their variants. */
const HOSTILE: string[] = [
  // plain traversal
  '..',
  '../x',
  'a/../../x',
  'a/..',
  'model/../../../etc/passwd',
  // backslashes (CVE-2023-2780)
  '..\\x',
  'a\\b',
  '\\\\server\\share\\x',
  // absolute paths and drives
  '/etc/passwd',
  '/',
  '//proc/self/root',
  'C:\\x',
  'C:/x',
  'c:x',
  // percent-encoded traversal, once, twice, thrice, mixed case
  '%2e%2e%2f',
  '%2e%2e/x',
  '..%2fx',
  '%2E%2E%2Fetc%2Fpasswd',
  'a/%2e%2e/%2e%2e/x',
  '%252e%252e%252f',
  '%252e%252e%252fetc%252fpasswd',
  '%25252e%25252e%25252f',
  '%2fetc%2fpasswd',
  '%5c..%5cx',
  '..%5cx',
  // path parameters (CVE-2024-1593)
  '..;/x',
  'a/..;/b',
  'a;b',
  'model;jsessionid=1/x',
  '%3b',
  // fragments and queries (CVE-2023-6909, CVE-2024-1483/2928)
  'a#/../../x',
  'a#b',
  '#',
  '?a=../..',
  'a?a=../..',
  'a%3fb',
  'a%23b',
  // URI schemes (CVE-2023-6977, CVE-2024-3573)
  'file:///etc/passwd',
  'file:x',
  's3://bucket/key',
  'http://169.254.169.254/latest',
  'mlflow-artifacts:/x',
  'FILE:/etc',
  // NUL and control characters
  'a\u0000b',
  'a%00b',
  'a\nb',
  'a\tb',
  'a%0ab',
  '\u007f',
  'a\u0085b',
  // malformed or overlong encodings
  '%c0%ae%c0%ae/x',
  '%e2%82',
  // fullwidth dots and solidi that NFKC turns into ../
  '\uff0e\uff0e\uff0fx',
  '\uff0e\uff0e/x',
  // invalid Unicode
  'a\ud800b',
];

describe('confineArtifactPath', () => {
  it.each(HOSTILE)('rejects %j with INVALID_ARTIFACT_PATH', (hostile) => {
    const err = rejection(() => confineArtifactPath(hostile));
    expect(err).toBeInstanceOf(AppError);
    expect(err.kind).toBe('invalid_argument');
    expect(err.reason).toBe('INVALID_ARTIFACT_PATH');
    expect(err.details.path).toBe(hostile);
  });

  it.each([
    ['', ''],
    ['.', ''],
    ['./', ''],
    ['model', 'model'],
    ['model/MLmodel', 'model/MLmodel'],
    ['a/./b', 'a/b'],
    ['a//b', 'a/b'],
    ['a///b//', 'a/b'],
    ['./a/./b/.', 'a/b'],
    ['dir/', 'dir'],
    ['my model/conda env.yaml', 'my model/conda env.yaml'],
    ['données/résumé.txt', 'données/résumé.txt'],
    ['模型/权重.bin', '模型/权重.bin'],
    ['😀/x', '😀/x'],
    ['...', '...'],
    ['..a/b..', '..a/b..'],
    ['.hidden/.env', '.hidden/.env'],
    ['a%20b', 'a%20b'],
    ['100%25', '100%25'],
    ['50%off.txt', '50%off.txt'],
    ['logs/2024-01-01T10:00:00.json', 'logs/2024-01-01T10:00:00.json'],
    ['1:2', '1:2'],
    ['a-b_c.d~e', 'a-b_c.d~e'],
  ])('normalizes %j to %j', (input, expected) => {
    expect(confineArtifactPath(input)).toBe(expected);
  });

  it('is idempotent on what it returns', () => {
    for (const p of ['a//b/./c', 'x/y/', '%2541']) {
      const once = confineArtifactPath(p);
      expect(confineArtifactPath(once)).toBe(once);
    }
  });

  it('limits the length and the segment size', () => {
    const longest =
      Array.from({ length: MAX_ARTIFACT_PATH_LENGTH / 8 }, () => 'segment/')
        .join('')
        .slice(0, -1) + 'x';
    expect(longest).toHaveLength(MAX_ARTIFACT_PATH_LENGTH);
    expect(confineArtifactPath(longest)).toBe(longest);
    expect(rejection(() => confineArtifactPath(`${longest}y`)).message).toMatch(/at most 1024 characters/);
    expect(confineArtifactPath(`d/${'n'.repeat(255)}`)).toBe(`d/${'n'.repeat(255)}`);
    expect(rejection(() => confineArtifactPath(`d/${'n'.repeat(256)}`)).message).toMatch(/at most 255 bytes/);
    // 128 two-byte characters are 256 bytes.
    expect(rejection(() => confineArtifactPath('é'.repeat(128))).message).toMatch(/at most 255 bytes/);
  });

  it('refuses endless encoding layers', () => {
    let deep = '..';
    for (let i = 0; i < 12; i++) deep = encodeURIComponent(deep).replace(/\./g, '%2e');
    expect(rejection(() => confineArtifactPath(deep)).reason).toBe('INVALID_ARTIFACT_PATH');
  });

  it('explains the rejection and escapes the offending value in the message', () => {
    const err = rejection(() => confineArtifactPath('a\u0000/../b'));
    expect(err.message).toContain('"a\\u0000/../b"');
    expect(err.message).toMatch(/control characters/);
    expect(rejection(() => confineArtifactPath('%252e%252e%252f')).message).toMatch(/'\.\.' segments/);
  });
});

describe('confineArtifactScope', () => {
  it('applies the path rules and refuses the empty scope', () => {
    expect(confineArtifactScope('3//6f1c/./artifacts/')).toBe('3/6f1c/artifacts');
    for (const bad of ['', '.', '/', '3/../..', '%2e%2e', 's3://b/x']) {
      expect(rejection(() => confineArtifactScope(bad)).reason).toBe('INVALID_ARTIFACT_PATH');
    }
  });
});

describe('assertSafeLocation', () => {
  it.each([
    'file:///usr/out/../etc',
    'file:///usr/out/%2e%2e/etc',
    'file:///usr/out/%252e%252e/etc',
    's3://bucket/prefix/../other',
    'file:///usr/out/3?a=../..',
    'file:///usr/out/3#../../x',
    'file:///usr/out/3%23x',
    'file:///usr/out/..;/x',
    '/usr/out/a\\..\\x',
    'file:///usr/out/a%00',
  ])('rejects %j', (uri) => {
    expect(rejection(() => assertSafeLocation(uri)).reason).toBe('INVALID_ARTIFACT_PATH');
  });

  it('accepts ordinary locations', () => {
    expect(() => assertSafeLocation('file:///usr/out/3/abc/artifacts')).not.toThrow();
    expect(() => assertSafeLocation('s3://bucket/prefix/3/abc/artifacts')).not.toThrow();
    expect(() => assertSafeLocation('/usr/out/my%20run')).not.toThrow();
  });
});

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startRunPostgres } from '@cairn/testing';

/**
 * The end-to-end suites run the built platform, so build it first (incremental), and give
 * the suites that start a single service process a real Postgres.
 */
export default async function setup(): Promise<void> {
  execFileSync('npm', ['run', '--silent', 'build'], {
    cwd: path.resolve(__dirname, '../../..'),
    stdio: 'inherit',
  });
  await startRunPostgres();
}

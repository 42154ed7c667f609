import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** The end-to-end suites run the built platform, so build it first (incremental). */
export default function buildOnce(): void {
  execFileSync('npm', ['run', '--silent', 'build'], {
    cwd: path.resolve(__dirname, '../../..'),
    stdio: 'inherit',
  });
}

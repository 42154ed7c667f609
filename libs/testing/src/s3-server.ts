import { type ChildProcess, spawn } from 'node:child_process';
import { freePort, waitFor } from './ports';

export interface S3TestServer {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

/**
 * An S3-compatible server for integration tests: moto's standalone server (`moto_server`,
 * on the machine image; tools/scripts/ensure-system-deps.sh installs it when missing), on a
 * free loopback port. Any S3 client works against it with path-style addressing.
 */
export async function startS3Server(): Promise<S3TestServer> {
  const port = await freePort();
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (err) =>
      reject(
        new Error(`cannot start moto_server (${err.message}); run: bash tools/scripts/ensure-system-deps.sh`),
      ),
    );
    child.once('exit', (code) => reject(new Error(`moto_server exited with code ${code}: ${stderr}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  await Promise.race([
    waitFor(
      `moto_server on ${endpoint}`,
      async () => ((await fetch(`${endpoint}/moto-api/`).catch(() => undefined))?.ok ? true : undefined),
      30_000,
      100,
    ),
    spawnError,
  ]);
  spawnError.catch(() => undefined);
  return {
    endpoint,
    region: 'us-east-1',
    accessKeyId: 'testing',
    secretAccessKey: 'testing',
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');

export interface Platform {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  signal: () => NodeJS.Signals | null;
}

/** Starts the platform exactly as a user does: `npm start`. */
export function npmStart(env: NodeJS.ProcessEnv): Platform {
  // Its own process group, like a shell job, so that stop() can do what Ctrl-C does.
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    env: { ...process.env, ...env, NO_COLOR: '1' },
    detached: true,
  });
  const output: string[] = [];
  const collect = (d: Buffer) => output.push(...d.toString().split('\n'));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let signal: NodeJS.Signals | null = null;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, sig) => {
      signal = sig;
      resolve(code);
    }),
  );
  return { child, output, exited, signal: () => signal };
}

/** Every process whose environment carries this CAIRN_HOME: the launcher, services, Postgres. */
export async function processesOf(home: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'latin1').catch(() => '');
    if (environ.split('\0').includes(`CAIRN_HOME=${home}`)) pids.push(Number(entry));
  }
  return pids;
}

/** The environment a process was started with, by variable name. */
export async function environmentOf(pid: number): Promise<Map<string, string>> {
  const environ = await readFile(`/proc/${pid}/environ`, 'latin1');
  return new Map(
    environ
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

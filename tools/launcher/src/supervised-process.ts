import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface SupervisedProcessOptions {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Writes one line of the child's output, already prefixed. */
  output: (line: string) => void;
  /** Called when the child exits while it was meant to be running. */
  onUnexpectedExit: (code: number | null, signal: NodeJS.Signals | null) => void;
}

/** Exit code a Cairn service uses for invalid configuration (EX_CONFIG). */
export const EXIT_CONFIG = 78;

/**
 * One child process whose output is streamed with a name prefix. Its stdin is a pipe the
 * child watches (CAIRN_SUPERVISED=1): if the launcher dies, even by SIGKILL, the pipe closes
 * and the service shuts down on its own, so no process is left behind.
 */
export class SupervisedProcess {
  private child: ChildProcess | undefined;
  private stopping = false;
  readonly recentOutput: string[] = [];

  constructor(private readonly opts: SupervisedProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    this.stopping = false;
    const child = spawn(this.opts.command, this.opts.args, {
      env: { ...this.opts.env, CAIRN_SUPERVISED: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.recentOutput.push(line);
        if (this.recentOutput.length > 50) this.recentOutput.shift();
        this.opts.output(line);
      });
    }
    child.stdin?.on('error', () => undefined); // the child may exit before reading
    child.once('exit', (code, signal) => {
      if (!this.stopping) this.opts.onUnexpectedExit(code, signal);
    });
  }

  /** SIGTERM, then SIGKILL if the child has not exited within `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.opts.output(`did not stop within ${graceMs} ms: killing`);
      child.kill('SIGKILL');
    }, graceMs);
    await exited;
    clearTimeout(timer);
  }
}

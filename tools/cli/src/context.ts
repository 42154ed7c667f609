import { status } from '@grpc/grpc-js';
import { CairnClient, type CairnCredentials } from '@cairn/sdk';
import { type CliConfig, type CliEnv, configPath, readConfig, resolveConnection } from './config';
import { type CliIo, toJson } from './output';

/** A failure of the CLI itself (not of a call), with the reason code it prints. */
export class CliError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Exit codes: distinct for what a script most often needs to tell apart. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  unauthenticated: 3,
  permissionDenied: 4,
  notFound: 5,
} as const;

const EXIT_BY_STATUS: Partial<Record<status, number>> = {
  [status.UNAUTHENTICATED]: EXIT.unauthenticated,
  [status.PERMISSION_DENIED]: EXIT.permissionDenied,
  [status.NOT_FOUND]: EXIT.notFound,
  [status.INVALID_ARGUMENT]: EXIT.usage,
};

/** The exit code for a failed call's gRPC status. */
export function exitCodeOf(code: status): number {
  return EXIT_BY_STATUS[code] ?? EXIT.error;
}

/** What every command gets: where to write, the environment, and a client made on first use. */
export class CliContext {
  private client?: CairnClient;
  private readonly cleanups: Array<() => void> = [];

  constructor(
    readonly io: CliIo,
    readonly env: CliEnv,
    /** Registers a handler for Ctrl-C; returns its removal. */
    readonly onInterrupt: (handler: () => void) => () => void,
    /** All of standard input, for secrets passed with `--*-stdin`. */
    readonly readStdin: () => Promise<string>,
  ) {}

  get configFile(): string {
    return configPath(this.env);
  }

  loadConfig(): Promise<CliConfig | undefined> {
    return readConfig(this.configFile);
  }

  /** A client for the given address and credentials, closed when the command ends. */
  connect(address: string, credentials?: CairnCredentials): CairnClient {
    const client = new CairnClient({ address, credentials });
    this.cleanups.push(() => client.close());
    return client;
  }

  /** The client of the logged-in user (or CAIRN_ADDRESS / CAIRN_API_KEY). */
  async cairn(): Promise<CairnClient> {
    if (this.client) return this.client;
    const { address, apiKey } = resolveConnection(await this.loadConfig(), this.env);
    if (!apiKey) {
      throw new CliError(
        'NOT_LOGGED_IN',
        'run `cairn login` first, or set CAIRN_API_KEY',
        EXIT.unauthenticated,
      );
    }
    this.client = this.connect(address, { apiKey });
    return this.client;
  }

  out(text: string): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** A message for the person at the terminal (stderr, so stdout stays parseable). */
  note(text: string): void {
    this.io.stderr.write(`${text}\n`);
  }

  json(value: unknown): void {
    this.out(toJson(value));
  }

  close(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }
}

/** Commands that list or show take `--json`. */
export interface JsonOption {
  readonly json?: boolean;
}

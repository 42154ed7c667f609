import type { Pool } from 'pg';

/** The subset of a pino logger the bus uses (pino's Logger satisfies it). */
export interface BusLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** An error with a stable reason code and the offending value (CONVENTIONS.md). */
export class PostgresBusError extends Error {
  constructor(
    readonly code:
      | 'BUS_CLOSED'
      | 'BUS_UNKNOWN_TOPIC'
      | 'BUS_INVALID_TOPIC'
      | 'BUS_INVALID_ARGUMENT'
      | 'BUS_GROUP_NOT_IDLE'
      | 'BUS_OFFSET_OUT_OF_RANGE',
    message: string,
    readonly value?: unknown,
  ) {
    super(`${code}: ${message}`);
    this.name = 'PostgresBusError';
  }
}

export interface PostgresEventBusOptions {
  /** A connection string (the bus creates and later ends its own pool) or an existing pool. */
  connection: string | Pool;
  /** Pool size when the bus creates the pool. Default 10. */
  poolSize?: number;
  /** `application_name` of the bus's sessions; the LISTEN session gets `<name>:listen`. */
  applicationName?: string;
  logger?: BusLogger;
  /** How often a member renews its membership (and re-checks its assignment). Default 1 000 ms. */
  heartbeatIntervalMs?: number;
  /** A member whose heartbeat is older than this is dead and its partitions are taken over. Default 10 000 ms. */
  sessionTimeoutMs?: number;
  /** Fallback poll of partition heads when no NOTIFY arrives. Default 500 ms. */
  pollIntervalMs?: number;
  /** Backoff after a failed batch, a failed fetch or commit. Default 100 ms doubling to 30 s. */
  retry?: { initialMs: number; maxMs: number };
  /** Reconnect backoff of the LISTEN session. Default 100 ms doubling to 5 s. */
  listenReconnect?: { initialMs: number; maxMs: number };
  /** Retention of topics created without one; null keeps messages forever. Default 7 days (Kafka's). */
  defaultRetentionMs?: number | null;
  /** How often `pruneExpired()` runs; 0 disables the timer. Default 5 minutes (Kafka's check interval). */
  pruneIntervalMs?: number;
  /** How long stop() and a revocation wait for an in-flight batch before giving up its lease. Default: the session timeout. */
  drainTimeoutMs?: number;
}

import { Client, type ClientConfig, type Notification } from 'pg';
import type { BusLogger } from './types';
import { abortableDelay } from './timing';

export interface NotificationListenerOptions {
  config: ClientConfig;
  logger: BusLogger;
  /** Reconnect backoff after the connection drops: doubles from `initialMs` up to `maxMs`. */
  reconnect: { initialMs: number; maxMs: number };
  onNotification(channel: string, payload: string): void;
  /** Called after every (re)connection once all channels are listened to again. */
  onReconnected(): void;
}

/**
 * The bus instance's one dedicated LISTEN connection (LISTEN is per session, so it cannot go
 * through the pool). NOTIFY is only a wake-up: notifications sent while this connection is
 * down are lost, so the bus keeps polling regardless and, after a reconnection, wakes every
 * worker and re-runs group assignment (`onReconnected`) to catch up on what it missed.
 * Channels are reference-counted because several subscriptions may share a topic or group.
 */
export class NotificationListener {
  private client: Client | undefined;
  private pid: number | undefined;
  private readonly channels = new Map<string, number>();
  private readonly closing = new AbortController();
  private connectLoop: Promise<void> | undefined;
  private firstConnect: Promise<void> | undefined;
  private resolveFirstConnect: (() => void) | undefined;

  constructor(private readonly opts: NotificationListenerOptions) {}

  /** True while the LISTEN session is up. */
  get connected(): boolean {
    return this.client !== undefined;
  }

  /** The backend pid of the LISTEN session, for diagnostics and tests. */
  get backendPid(): number | undefined {
    return this.client ? this.pid : undefined;
  }

  /**
   * Listens to the channels (from now on and after every reconnection). Resolves once they are
   * listened to, or once the first connection attempt failed: callers never depend on NOTIFY.
   */
  async add(channels: string[]): Promise<void> {
    const fresh: string[] = [];
    for (const ch of channels) {
      const n = this.channels.get(ch) ?? 0;
      this.channels.set(ch, n + 1);
      if (n === 0) fresh.push(ch);
    }
    this.start();
    await this.firstConnect;
    const client = this.client;
    if (client && fresh.length > 0) {
      await client.query(listenSql('LISTEN', fresh)).catch((err: unknown) => {
        // The connection is dropping; the reconnection listens to every channel again.
        this.opts.logger.warn({ err, channels: fresh }, 'postgres bus: LISTEN failed');
      });
    }
  }

  remove(channels: string[]): void {
    const gone: string[] = [];
    for (const ch of channels) {
      const n = this.channels.get(ch) ?? 0;
      if (n <= 1) {
        this.channels.delete(ch);
        if (n === 1) gone.push(ch);
      } else {
        this.channels.set(ch, n - 1);
      }
    }
    const client = this.client;
    if (client && gone.length > 0) {
      client.query(listenSql('UNLISTEN', gone)).catch((err: unknown) => {
        // Harmless: a stray notification only wakes nobody.
        this.opts.logger.warn({ err, channels: gone }, 'postgres bus: UNLISTEN failed');
      });
    }
  }

  async close(): Promise<void> {
    this.closing.abort();
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => undefined); // already gone is fine: we are closing
    await this.connectLoop;
  }

  private start(): void {
    if (this.connectLoop || this.closing.signal.aborted) return;
    this.firstConnect = new Promise<void>((resolve) => (this.resolveFirstConnect = resolve));
    this.connectLoop = this.run();
  }

  /** Connects, waits for the connection to end, reconnects with backoff; until closed. */
  private async run(): Promise<void> {
    let delay = this.opts.reconnect.initialMs;
    while (!this.closing.signal.aborted) {
      const session = await this.connectOnce();
      this.resolveFirstConnect?.();
      this.resolveFirstConnect = undefined;
      if (session) {
        delay = this.opts.reconnect.initialMs;
        await session.ended;
      }
      if (this.closing.signal.aborted) break;
      await abortableDelay(delay, this.closing.signal);
      delay = Math.min(delay * 2, this.opts.reconnect.maxMs);
    }
  }

  /** The session (with a promise of its end), or undefined if it could not connect. */
  private async connectOnce(): Promise<{ ended: Promise<void> } | undefined> {
    const client = new Client(this.opts.config);
    let hasEnded = false;
    let markEnded!: () => void;
    const ended = new Promise<void>((resolve) => (markEnded = resolve));
    // A terminated backend emits 'error' then 'end'; without an 'error' listener Node would crash.
    client.on('error', (err) => {
      if (!this.closing.signal.aborted)
        this.opts.logger.warn({ err }, 'postgres bus: LISTEN connection error');
    });
    client.on('end', () => {
      hasEnded = true;
      if (this.client === client) this.client = undefined;
      markEnded();
    });
    client.on('notification', (n: Notification) => this.opts.onNotification(n.channel, n.payload ?? ''));
    try {
      await client.connect();
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      this.pid = rows[0].pid;
      // Loop because add() may register channels while a LISTEN is in flight; once nothing is
      // missing, publishing `this.client` happens in the same tick, so add() takes over.
      const listened = new Set<string>();
      for (;;) {
        const missing = [...this.channels.keys()].filter((c) => !listened.has(c));
        if (missing.length === 0) break;
        await client.query(listenSql('LISTEN', missing));
        for (const c of missing) listened.add(c);
      }
    } catch (err) {
      if (!this.closing.signal.aborted) {
        this.opts.logger.warn({ err }, 'postgres bus: LISTEN connection failed; polling meanwhile');
      }
      await client.end().catch(() => undefined); // it is broken already; we retry with a new one
      return undefined;
    }
    if (this.closing.signal.aborted) {
      await client.end().catch(() => undefined);
      return undefined;
    }
    if (hasEnded) return { ended }; // dropped right after LISTEN: reconnect at once
    this.client = client;
    this.opts.onReconnected();
    return { ended };
  }
}

/** Channel names come from schema.ts and are [a-z0-9_] only, so they need no quoting. */
function listenSql(verb: 'LISTEN' | 'UNLISTEN', channels: string[]): string {
  return channels.map((c) => `${verb} ${c}`).join('; ');
}

import type { EventBus, IncomingMessage } from '../event-bus.port';

/** How often replay checks whether it has caught up. */
const POLL_MS = 100;

/** The dead-letter topic of a topic. */
export const dlqTopic = (topic: string) => `${topic}.dlq`;

export interface ReplayOptions {
  bus: EventBus;
  /** The original topic whose dead letters are replayed. */
  topic: string;
  /** The group that tracks how far replay has gone; replays resume from there. */
  groupId?: string;
  /** Which dead letters to replay (default: all); the others are skipped and stay behind. */
  filter?: (message: IncomingMessage) => boolean;
  /** Stop once caught up or after this long. */
  timeoutMs?: number;
}

/**
 * Replays dead letters: republishes each one (without its `dlq_*` headers) to the topic it
 * came from, where every group sees it again; groups that had handled it already find it in
 * their inbox and do nothing. Use it after fixing the cause (a bug, a missing projection).
 */
export async function replayDeadLetters(opts: ReplayOptions): Promise<{ replayed: number; skipped: number }> {
  const source = dlqTopic(opts.topic);
  const groupId = opts.groupId ?? `cairn.dlq-replay.${opts.topic}`;
  let replayed = 0;
  let skipped = 0;
  const sub = await opts.bus.subscribe({
    groupId,
    topics: [source],
    handleBatch: async (batch) => {
      const selected = batch.messages.filter((m) => opts.filter?.(m) ?? true);
      skipped += batch.messages.length - selected.length;
      await opts.bus.publish(
        selected.map((m) => ({
          topic: m.headers.dlq_original_topic ?? opts.topic,
          key: m.key,
          value: m.value,
          headers: Object.fromEntries(Object.entries(m.headers).filter(([k]) => !k.startsWith('dlq_'))),
        })),
      );
      replayed += selected.length;
    },
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  try {
    for (;;) {
      const lag = await opts.bus.lag(groupId, source);
      if (sub.running && lag.every((l) => l.lag === 0)) break;
      if (Date.now() > deadline) throw new Error(`dead-letter replay of ${source} did not catch up in time`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    await sub.stop();
  }
  return { replayed, skipped };
}

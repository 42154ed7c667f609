/**
 * Kafka topics (and Postgres-log topics in embedded mode). One topic per producing service,
 * plus the high-volume inference logs kept apart so that they never delay control events.
 */
export const TOPICS = {
  tracking: 'cairn.tracking',
  registry: 'cairn.registry',
  orchestrator: 'cairn.orchestrator',
  monitor: 'cairn.monitor',
  inferenceLogs: 'cairn.inference-logs',
} as const;

export type Topic = (typeof TOPICS)[keyof typeof TOPICS];

/** Every topic events are published on, in a stable order (for topic provisioning). */
export const ALL_TOPICS: readonly Topic[] = Object.values(TOPICS);

/** Suffix of dead-letter topics: consumers move an event there after their retry limit. */
export const DLQ_SUFFIX = '.dlq';

/** The dead-letter topic of a topic: `<topic>.dlq`. */
export function dlqTopic<T extends string>(topic: T): `${T}.dlq` {
  return `${topic}${DLQ_SUFFIX}`;
}

export function isTopic(value: string): value is Topic {
  return (ALL_TOPICS as readonly string[]).includes(value);
}

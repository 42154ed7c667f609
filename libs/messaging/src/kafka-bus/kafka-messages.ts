import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import type { IncomingMessage, OutgoingMessage } from '../event-bus.port';
import { KafkaBusError } from './kafka-bus.errors';

/** Offsets are 64-bit: arithmetic on them goes through bigint, never through number. */
export function nextOffset(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}

/** Parses an offset given by a caller; rejects anything but a non-negative decimal integer. */
export function parseOffset(offset: string, what: Record<string, unknown>): bigint {
  if (!/^\d{1,19}$/.test(offset)) {
    throw new KafkaBusError(
      'INVALID_ARGUMENT',
      `offset must be a non-negative integer, got ${JSON.stringify(offset)}`,
      {
        ...what,
        offset,
      },
    );
  }
  return BigInt(offset);
}

export function toKafkaMessage(m: OutgoingMessage): Message {
  // Copy: kafkajs keeps a reference to the headers object until the request is sent.
  return { key: m.key, value: m.value, headers: { ...m.headers } };
}

/**
 * Kafka allows repeated header keys (kafkajs turns them into arrays); the port has one value
 * per key, so the last one wins, as in Kafka's own `Headers.lastHeader`.
 */
function toHeaderRecord(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [name, raw] of Object.entries(headers)) {
    if (raw === undefined) continue;
    const last = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    if (last === undefined) continue;
    out[name] = typeof last === 'string' ? last : last.toString('utf8');
  }
  return out;
}

export function fromKafkaMessage(topic: string, partition: number, m: KafkaMessage): IncomingMessage {
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key?.toString('utf8') ?? '',
    value: m.value?.toString('utf8') ?? '',
    headers: toHeaderRecord(m.headers),
    timestamp: Number(m.timestamp),
  };
}

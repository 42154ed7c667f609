/**
 * Key → partition, the same function Kafka uses.
 *
 * Why murmur2 and not Postgres' hashtext() or a simpler hash: it is the Java client's
 * default partitioner (`Utils.toPositive(Utils.murmur2(keyBytes)) % numPartitions`, over the
 * key's UTF-8 bytes), which kafkajs' `DefaultPartitioner` reproduces. Using it here means an
 * aggregate lands on the same partition number whichever adapter stored it, so moving a
 * deployment from the embedded log to Kafka (or replaying one into the other) keeps each
 * key's events in the partition a consumer expects. It is also stable across Node and
 * Postgres versions, which hashtext() does not promise.
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2 over the bytes, as a signed 32-bit integer (same value as the Java client). */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = (SEED ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = length & ~3;
  const rem = length & 3;
  if (rem === 3) h ^= data[tail + 2] << 16;
  if (rem >= 2) h ^= data[tail + 1] << 8;
  if (rem >= 1) {
    h ^= data[tail];
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition a key belongs to in a topic of `partitions` partitions. */
export function partitionForKey(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;
}

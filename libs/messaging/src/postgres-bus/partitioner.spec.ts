import { randomBytes } from 'node:crypto';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { murmur2, partitionForKey } from './partitioner';

describe('partitioner', () => {
  it("matches the Java client's murmur2 test vectors (Kafka UtilsTest)", () => {
    const vectors: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, expected] of vectors) {
      expect({ key, hash: murmur2(Buffer.from(key)) }).toEqual({ key, hash: expected });
    }
  });

  it("puts every key on the partition kafkajs' DefaultPartitioner picks", () => {
    const kafka = Partitioners.DefaultPartitioner();
    for (const partitions of [1, 3, 4, 12, 50]) {
      const partitionMetadata: PartitionMetadata[] = Array.from({ length: partitions }, (_, i) => ({
        partitionErrorCode: 0,
        partitionId: i,
        leader: 1,
        replicas: [1],
        isr: [1],
      }));
      const keys = [
        '',
        'run-1',
        'modèle-ünïcode-✓',
        '🚀 rocket',
        ...Array.from({ length: 300 }, (_, i) => randomBytes(1 + (i % 37)).toString('base64')),
      ];
      for (const key of keys) {
        const expected = kafka({ topic: 't', partitionMetadata, message: { key, value: null } });
        expect({ key, partitions, p: partitionForKey(key, partitions) }).toEqual({
          key,
          partitions,
          p: expected,
        });
      }
    }
  });
});

import { partitionForKey } from './partitioner';

export interface GroupMemberView {
  memberId: string;
  topics: readonly string[];
}

/**
 * The partitions of one topic that `memberId` should own, given the live members of its group.
 *
 * Every member computes this from the same membership table, so they agree without a
 * coordinator (Kafka's group leader): partitions are dealt round-robin over the members
 * subscribed to the topic, sorted by id. Each member therefore gets floor(P/M) or ceil(P/M)
 * partitions. The deal starts at a topic-dependent member so that, when a group reads several
 * topics whose partition counts do not divide evenly, the extra partitions do not all land on
 * the first member. Leases (bus.group_partitions.owner), not this function, guarantee that
 * a partition has at most one owner while members' views of the membership differ.
 */
export function assignedPartitions(
  topic: string,
  partitions: number,
  members: readonly GroupMemberView[],
  memberId: string,
): number[] {
  const subscribed = members
    .filter((m) => m.topics.includes(topic))
    .map((m) => m.memberId)
    .sort();
  const index = subscribed.indexOf(memberId);
  if (index < 0) return [];
  const count = subscribed.length;
  const start = partitionForKey(topic, count);
  const mine: number[] = [];
  for (let p = 0; p < partitions; p++) {
    if ((p + start) % count === index) mine.push(p);
  }
  return mine;
}

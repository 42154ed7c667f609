import { assignedPartitions, type GroupMemberView } from './assignment';

const members = (n: number, topics = ['t']): GroupMemberView[] =>
  Array.from({ length: n }, (_, i) => ({ memberId: `m-${String.fromCharCode(122 - i)}`, topics }));

describe('assignedPartitions', () => {
  it.each([
    [1, 1],
    [4, 1],
    [4, 2],
    [4, 3],
    [5, 2],
    [3, 5],
    [12, 5],
  ])(
    'deals %i partitions over %i members: disjoint, complete, at most ceil(P/M) each',
    (partitions, count) => {
      const group = members(count);
      const shares = group.map((m) => assignedPartitions('t', partitions, group, m.memberId));
      const all = shares.flat().sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: partitions }, (_, i) => i));
      for (const s of shares) {
        expect(s.length).toBeLessThanOrEqual(Math.ceil(partitions / count));
        expect(s.length).toBeGreaterThanOrEqual(Math.floor(partitions / count));
      }
    },
  );

  it('ignores members of the group that do not read the topic, and gives outsiders nothing', () => {
    const group: GroupMemberView[] = [
      { memberId: 'a', topics: ['t'] },
      { memberId: 'b', topics: ['other'] },
    ];
    expect(assignedPartitions('t', 3, group, 'a')).toEqual([0, 1, 2]);
    expect(assignedPartitions('t', 3, group, 'b')).toEqual([]);
    expect(assignedPartitions('t', 3, group, 'not-a-member')).toEqual([]);
  });

  it('does not depend on the order members are listed in', () => {
    const group = members(3);
    const reversed = [...group].reverse();
    for (const m of group) {
      expect(assignedPartitions('t', 7, group, m.memberId)).toEqual(
        assignedPartitions('t', 7, reversed, m.memberId),
      );
    }
  });
});

import { createMessagingTablesSql, dropMessagingTablesSql, outboxChannel } from './messaging-tables';

describe('messaging tables', () => {
  it('are created in the given schema only', () => {
    const sql = createMessagingTablesSql('registry').join('\n');
    expect(sql).toContain('CREATE TABLE "registry".outbox');
    expect(sql).toContain('CREATE TABLE "registry".inbox');
    expect(sql).not.toMatch(/CREATE TABLE (?!"registry")/);
    expect(dropMessagingTablesSql('registry')).toEqual([
      'DROP TABLE IF EXISTS "registry".inbox',
      'DROP TABLE IF EXISTS "registry".outbox',
    ]);
  });

  it('dedups consumed events per consumer group', () => {
    expect(createMessagingTablesSql('monitor').join('\n')).toMatch(
      /PRIMARY KEY \(consumer_group, event_id\)/,
    );
  });

  it('name one wake-up channel per schema', () => {
    expect(outboxChannel('tracking')).toBe('cairn_outbox_tracking');
  });
});

import type { Command } from 'commander';
import type { gatewayEventsV1 } from '@cairn/proto';
import type { CliContext, JsonOption } from '../context';
import { formatTime } from '../output';
import { collect } from '../parse';
import { eventView } from '../views';

/** One line per event: time, type, subject, id (and the journal sequence). */
export function eventLine(e: gatewayEventsV1.Event): string {
  return [formatTime(e.time) || '-', e.type, e.subject || '-', e.id, `#${e.sequence}`].join(' ');
}

export function registerEventCommands(program: Command, ctx: CliContext): void {
  const events = program.command('events').description('the platform’s events');
  events
    .command('watch')
    .description('print events as they happen, one line each, until Ctrl-C')
    .option(
      '--type <type>',
      'only this CloudEvents type, e.g. cairn.registry.model.promoted.v1 (repeatable)',
      collect(String),
    )
    .option('--subject <subject>', 'only this subject: a model name, run id... (repeatable)', collect(String))
    .option('--after <event-id>', 'start after this event (replaying the journal from there) instead of now')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { type?: string[]; subject?: string[]; after?: string } & JsonOption) => {
      const cairn = await ctx.cairn();
      const stop = new AbortController();
      const removeHandler = ctx.onInterrupt(() => stop.abort());
      try {
        for await (const event of cairn.watchEvents(
          { types: opts.type ?? [], subjects: opts.subject ?? [], afterEventId: opts.after ?? '' },
          { signal: stop.signal },
        )) {
          // Compact JSON: one event per line, for jq and friends.
          ctx.out(opts.json ? JSON.stringify(eventView(event)) : eventLine(event));
        }
      } finally {
        removeHandler();
      }
    });
}

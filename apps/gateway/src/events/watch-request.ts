import type { AccessTarget } from '../auth';
import { AppError } from '@cairn/rpc';
import type { JournalEntry, JournalFilter } from './event-journal.repository';

/*
 * The pure rules of Events.Watch: which requests are valid, and which resource (if any) a
 * journaled event is authorized against.
 */

export const MAX_TYPE_FILTERS = 50;
export const MAX_SUBJECT_FILTERS = 100;
const MAX_FILTER_LENGTH = 256;

export interface WatchRequestInput {
  types: readonly string[];
  subjects: readonly string[];
  afterEventId: string;
}

export interface ValidWatch {
  filter: JournalFilter;
  /** Undefined: start at the journal's end (only new events). */
  afterEventId: string | undefined;
}

/** Validates a Watch request; INVALID_ARGUMENT with a reason and the offending value otherwise. */
export function validateWatchRequest(req: WatchRequestInput): ValidWatch {
  if (req.types.length > MAX_TYPE_FILTERS || req.subjects.length > MAX_SUBJECT_FILTERS) {
    throw new AppError(
      'invalid_argument',
      'TOO_MANY_FILTERS',
      `A Watch takes at most ${MAX_TYPE_FILTERS} types and ${MAX_SUBJECT_FILTERS} subjects.`,
      { types: String(req.types.length), subjects: String(req.subjects.length) },
    );
  }
  for (const [field, values] of [
    ['types', req.types],
    ['subjects', req.subjects],
  ] as const) {
    const bad = values.find((v) => v.length === 0 || v.length > MAX_FILTER_LENGTH);
    if (bad !== undefined) {
      throw new AppError(
        'invalid_argument',
        'INVALID_FILTER',
        `Each of ${field} must be 1 to ${MAX_FILTER_LENGTH} characters.`,
        { field, value: bad },
      );
    }
  }
  if (req.afterEventId.length > MAX_FILTER_LENGTH) {
    throw new AppError('invalid_argument', 'INVALID_EVENT_ID', 'after_event_id is too long.', {
      after_event_id: req.afterEventId,
    });
  }
  return {
    filter: { types: [...new Set(req.types)], subjects: [...new Set(req.subjects)] },
    afterEventId: req.afterEventId === '' ? undefined : req.afterEventId,
  };
}

/**
 * The resource a caller must be allowed to READ to see an event: a registry event's subject
 * is a registered model's name; a tracking event that carries `experimentId` is about that
 * experiment. Other events need only the `read` role (undefined here).
 */
export function watchTargetOf(
  entry: Pick<JournalEntry, 'type' | 'subject' | 'experimentId'>,
): AccessTarget | undefined {
  if (entry.type.startsWith('cairn.registry.')) return { kind: 'registered_model', id: entry.subject };
  if (entry.type.startsWith('cairn.tracking.') && entry.experimentId) {
    return { kind: 'experiment', id: entry.experimentId };
  }
  return undefined;
}

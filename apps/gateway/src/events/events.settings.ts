import { z } from 'zod';
import { positiveInt } from '@cairn/config';

/**
 * The event journal's settings, for the gateway blueprint's `extraSettings`:
 * `CAIRN_GATEWAY_EVENT_RETENTION_HOURS` (default 24) is how long events stay in the journal,
 * by their own time, and so how far back a Watch can resume.
 */
export const eventsSettings = z.object({
  CAIRN_GATEWAY_EVENT_RETENTION_HOURS: positiveInt(24),
});
export type EventsSettings = z.infer<typeof eventsSettings>;

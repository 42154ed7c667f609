import { z } from 'zod';

// version-traceid-parentid-flags; later versions may append fields after a dash, which a
// version-00 parser must accept (W3C Trace Context, section "Versioning of traceparent").
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ALL_ZEROS = /^0+$/;

/**
 * Whether a string is a valid W3C `traceparent`: lowercase hex, version not `ff`, non-zero trace
 * and parent ids, and nothing after the flags for version `00`.
 */
export function isValidTraceparent(value: string): boolean {
  const match = TRACEPARENT.exec(value);
  if (match === null) return false;
  const [, version, traceId, parentId, , rest] = match;
  if (version === 'ff') return false;
  if (version === '00' && rest !== undefined) return false;
  return !ALL_ZEROS.test(traceId) && !ALL_ZEROS.test(parentId);
}

/** The CloudEvents distributed-tracing extension attribute, a W3C `traceparent`. */
const INVALID_TRACEPARENT =
  'Invalid traceparent: expected 00-<32 lowercase hex trace id>-<16 lowercase hex parent id>-<2 hex flags>, ids not all zero';

// The regex is there for the JSON Schema (refinements do not translate); the refinement does the rest.
export const traceparentSchema = z
  .string()
  .regex(TRACEPARENT, { message: INVALID_TRACEPARENT, abort: true })
  .refine(isValidTraceparent, { message: INVALID_TRACEPARENT })
  .describe('W3C Trace Context traceparent of the span that produced the event.');

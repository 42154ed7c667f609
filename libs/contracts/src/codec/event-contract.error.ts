import type { z } from 'zod';

/** Why an event was refused. */
export type EventContractReason =
  'INVALID_ENVELOPE' | 'UNKNOWN_TYPE' | 'UNSUPPORTED_VERSION' | 'INVALID_DATA';

/** One validation problem, located by a dotted path from the envelope root (`data.window.rowCount`). */
export interface ContractIssue {
  path: string;
  message: string;
}

/** Thrown by `createEvent` when a producer builds an event the contract does not allow. */
export class EventContractError extends Error {
  constructor(
    readonly reason: EventContractReason,
    message: string,
    readonly type: string,
    readonly issues: readonly ContractIssue[] = [],
  ) {
    super(
      issues.length === 0
        ? message
        : `${message}:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}`,
    );
    this.name = 'EventContractError';
  }
}

/** Renders a path the way a reader of the JSON would write it: `data.rows[0].inputs`. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, segment) => {
    if (typeof segment === 'number') return `${acc}[${segment}]`;
    const name = String(segment);
    return acc === '' ? name : `${acc}.${name}`;
  }, '');
}

/** Zod issues as contract issues, with an optional path prefix (e.g. `data`). */
export function toContractIssues(error: z.ZodError, prefix: readonly PropertyKey[] = []): ContractIssue[] {
  return error.issues.map((issue) => ({
    path: formatIssuePath([...prefix, ...issue.path]) || '(root)',
    message: issue.message,
  }));
}

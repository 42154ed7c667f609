import type { EntityManager } from 'typeorm';

/** One registry state change, as the audit log records it. */
export interface AuditEntryInput {
  actor: string;
  /** `<object>.<verb>`, e.g. `model_version.transition`, `alias.set`. */
  action: string;
  objectType: 'registered_model' | 'model_version' | 'alias' | 'policy' | 'transition_request';
  objectId: string;
  model: string | null;
  before?: unknown;
  after?: unknown;
  reason?: string | null;
  occurredAt?: number;
}

/**
 * Appends audit entries in the caller's transaction, so a state change and its entry commit
 * or roll back together (the audit feature implements it with the hash chain).
 */
export interface AuditTrail {
  append(manager: EntityManager, entry: AuditEntryInput): Promise<unknown>;
}

export const AUDIT_TRAIL = Symbol('AUDIT_TRAIL');

import type { EntityManager } from 'typeorm';
import type { Stage } from '@cairn/contracts';
import { AppError } from '@cairn/rpc';
import type { RegisteredModelRow } from '../models/models.repository';
import type { GateResult } from './gates';
import type { Target } from './model-policy';

export const REQUEST_STATUSES = [
  'PENDING',
  'APPLIED',
  'REJECTED',
  'GATES_FAILED',
  'WITHDRAWN',
  'EXPIRED',
] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

export interface ApprovalRecord {
  approver: string;
  comment: string;
  approvedAt: number;
}

export interface TransitionRequestRecord {
  requestId: string;
  modelId: string;
  name: string;
  version: number;
  from: Target;
  to: Target;
  archiveExisting: boolean;
  requestedBy: string;
  comment: string;
  /** EXPIRED as soon as the deadline passes without full approval, before the sweeper records it. */
  status: RequestStatus;
  approvalsRequired: number;
  approvals: ApprovalRecord[];
  createdAt: number;
  expiresAt: number;
  closedAt: number | null;
  closedBy: string | null;
  closeComment: string;
  gateResults: GateResult[];
}

interface RequestRow {
  request_id: string;
  model_id: string;
  name: string;
  version: number;
  from_kind: 'stage' | 'alias';
  from_value: string;
  to_kind: 'stage' | 'alias';
  to_value: string;
  archive_existing: boolean;
  requested_by: string;
  comment: string;
  status: RequestStatus;
  approvals_required: number;
  approvals: Array<{ approver: string; comment: string; approved_at: number }> | null;
  created_at: string;
  expires_at: string;
  closed_at: string | null;
  closed_by: string | null;
  close_comment: string;
  gate_results: GateResult[];
}

/** A pending request past its deadline without its approvals shows as EXPIRED (`$1` is now). */
const SHOWN_STATUS = `CASE WHEN r.status = 'PENDING' AND r.expires_at <= $1 AND granted.n < r.approvals_required
                           THEN 'EXPIRED' ELSE r.status END`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function requestNotFound(id: string): AppError {
  return new AppError(
    'not_found',
    'TRANSITION_REQUEST_NOT_FOUND',
    `Transition request '${id.slice(0, 100)}' not found`,
    { requestId: id.slice(0, 100) },
  );
}

const target = (kind: 'stage' | 'alias', value: string): Target =>
  kind === 'stage' ? { kind, stage: value as Stage } : { kind, alias: value };

export const targetValue = (t: Target): string => (t.kind === 'stage' ? t.stage : t.alias);

function toRecord(r: RequestRow): TransitionRequestRecord {
  return {
    requestId: r.request_id,
    modelId: r.model_id,
    name: r.name,
    version: r.version,
    from: target(r.from_kind, r.from_value),
    to: target(r.to_kind, r.to_value),
    archiveExisting: r.archive_existing,
    requestedBy: r.requested_by,
    comment: r.comment,
    status: r.status,
    approvalsRequired: r.approvals_required,
    approvals: (r.approvals ?? []).map((a) => ({
      approver: a.approver,
      comment: a.comment,
      approvedAt: Number(a.approved_at),
    })),
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    closedAt: r.closed_at === null ? null : Number(r.closed_at),
    closedBy: r.closed_by,
    closeComment: r.close_comment,
    gateResults: r.gate_results,
  };
}

export interface NewRequest {
  requestId: string;
  model: RegisteredModelRow;
  version: number;
  from: Target;
  to: Target;
  archiveExisting: boolean;
  requestedBy: string;
  comment: string;
  approvalsRequired: number;
  createdAt: number;
  expiresAt: number;
}

export interface RequestListQuery {
  modelId?: string;
  status?: RequestStatus;
  /** Keyset position: requests strictly older than this (created_at, request_id). */
  after?: { t: string; id: string };
  limit: number;
}

/**
 * Transition requests and their approvals. Every change to a request happens under its model's
 * row lock (taken first) and then the request's own, so approvals, rejections, withdrawals,
 * expiry and the final promotion of one request serialize with each other and with every
 * other stage or alias change of the model.
 */
export class TransitionRequestsRepository {
  constructor(private readonly schema: string) {}

  private get s(): string {
    return `"${this.schema}"`;
  }

  /**
   * The shown status: a pending request past its deadline without its approvals is EXPIRED
   * even before the sweeper records it (`$1` is now).
   */
  private select(where: string, tail = ''): string {
    const s = this.s;
    return `SELECT r.request_id::text, r.model_id::text, m.name, r.version, r.from_kind, r.from_value, r.to_kind,
                   r.to_value, r.archive_existing, r.requested_by, r.comment, ${SHOWN_STATUS} AS status,
                   r.approvals_required,
                   (SELECT json_agg(json_build_object('approver', a.approver, 'comment', a.comment,
                                                      'approved_at', a.approved_at) ORDER BY a.approved_at, a.approver)
                      FROM ${s}.transition_approvals a WHERE a.request_id = r.request_id) AS approvals,
                   r.created_at, r.expires_at, r.closed_at, r.closed_by, r.close_comment, r.gate_results
              FROM ${s}.transition_requests r JOIN ${s}.registered_models m USING (model_id)
                   CROSS JOIN LATERAL (SELECT count(*) AS n FROM ${s}.transition_approvals a
                                        WHERE a.request_id = r.request_id) granted
             WHERE ${where} ${tail}`;
  }

  async find(
    m: EntityManager,
    requestId: string,
    now: number,
    lock = false,
  ): Promise<TransitionRequestRecord | undefined> {
    if (!UUID.test(requestId)) return undefined;
    if (lock) {
      await m.query(`SELECT 1 FROM ${this.s}.transition_requests WHERE request_id = $1 FOR UPDATE`, [
        requestId,
      ]);
    }
    const [row] = await m.query<RequestRow[]>(this.select('r.request_id = $2'), [now, requestId]);
    return row ? toRecord(row) : undefined;
  }

  async get(
    m: EntityManager,
    requestId: string,
    now: number,
    lock = false,
  ): Promise<TransitionRequestRecord> {
    const found = await this.find(m, requestId, now, lock);
    if (!found) throw requestNotFound(requestId);
    return found;
  }

  /** The model a request belongs to (to take the model's lock before the request's). */
  async modelIdOf(m: EntityManager, requestId: string): Promise<string | undefined> {
    if (!UUID.test(requestId)) return undefined;
    const [row] = await m.query<Array<{ model_id: string }>>(
      `SELECT model_id::text FROM ${this.s}.transition_requests WHERE request_id = $1`,
      [requestId],
    );
    return row?.model_id;
  }

  /** The open request for this version and target, if any (expired ones included: the caller closes them). */
  async findOpen(
    m: EntityManager,
    modelId: string,
    version: number,
    to: Target,
    now: number,
  ): Promise<TransitionRequestRecord | undefined> {
    const [row] = await m.query<RequestRow[]>(
      this.select(
        `r.model_id = $2 AND r.version = $3 AND r.to_kind = $4 AND r.to_value = $5 AND r.status = 'PENDING'`,
      ),
      [now, modelId, version, to.kind, targetValue(to)],
    );
    return row ? toRecord(row) : undefined;
  }

  async insert(m: EntityManager, r: NewRequest): Promise<void> {
    await m.query(
      `INSERT INTO ${this.s}.transition_requests (request_id, model_id, version, from_kind, from_value, to_kind, to_value,
                                                  archive_existing, requested_by, comment, status, approvals_required,
                                                  created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'PENDING', $11, $12, $13)`,
      [
        r.requestId,
        r.model.modelId,
        r.version,
        r.from.kind,
        targetValue(r.from),
        r.to.kind,
        targetValue(r.to),
        r.archiveExisting,
        r.requestedBy,
        r.comment,
        r.approvalsRequired,
        r.createdAt,
        r.expiresAt,
      ],
    );
  }

  async addApproval(
    m: EntityManager,
    requestId: string,
    approver: string,
    comment: string,
    at: number,
  ): Promise<void> {
    await m.query(
      `INSERT INTO ${this.s}.transition_approvals (request_id, approver, comment, approved_at) VALUES ($1, $2, $3, $4)`,
      [requestId, approver, comment, at],
    );
  }

  async close(
    m: EntityManager,
    requestId: string,
    status: Exclude<RequestStatus, 'PENDING'>,
    closedAt: number,
    closedBy: string | null,
    closeComment: string,
    gateResults: GateResult[] = [],
  ): Promise<void> {
    await m.query(
      `UPDATE ${this.s}.transition_requests
          SET status = $2, closed_at = $3, closed_by = $4, close_comment = $5, gate_results = $6
        WHERE request_id = $1 AND status = 'PENDING'`,
      [requestId, status, closedAt, closedBy, closeComment, JSON.stringify(gateResults)],
    );
  }

  /** A model's requests (or all), newest first. */
  async list(m: EntityManager, q: RequestListQuery, now: number): Promise<TransitionRequestRecord[]> {
    const params: unknown[] = [now];
    const add = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const where: string[] = ['TRUE'];
    if (q.modelId !== undefined) where.push(`r.model_id = ${add(q.modelId)}`);
    if (q.after)
      where.push(`(r.created_at, r.request_id) < (${add(q.after.t)}::bigint, ${add(q.after.id)}::uuid)`);
    if (q.status) where.push(`${SHOWN_STATUS} = ${add(q.status)}`);
    const rows = await m.query<RequestRow[]>(
      this.select(where.join(' AND '), `ORDER BY r.created_at DESC, r.request_id DESC LIMIT ${add(q.limit)}`),
      params,
    );
    return rows.map(toRecord);
  }

  /** Pending requests whose deadline passed without their approvals (for the sweeper). */
  async dueForExpiry(
    m: EntityManager,
    now: number,
    limit: number,
  ): Promise<Array<{ requestId: string; modelId: string }>> {
    const rows = await m.query<Array<{ request_id: string; model_id: string }>>(
      `SELECT r.request_id::text, r.model_id::text FROM ${this.s}.transition_requests r
        WHERE r.status = 'PENDING' AND r.expires_at <= $1
          AND (SELECT count(*) FROM ${this.s}.transition_approvals a WHERE a.request_id = r.request_id) < r.approvals_required
        ORDER BY r.expires_at LIMIT $2`,
      [now, limit],
    );
    return rows.map((r) => ({ requestId: r.request_id, modelId: r.model_id }));
  }

  /** Pending requests with all their approvals: a crash came between the last approval and the promotion. */
  async approvedButOpen(m: EntityManager, limit: number): Promise<string[]> {
    const rows = await m.query<Array<{ request_id: string }>>(
      `SELECT r.request_id::text FROM ${this.s}.transition_requests r
        WHERE r.status = 'PENDING'
          AND (SELECT count(*) FROM ${this.s}.transition_approvals a WHERE a.request_id = r.request_id) >= r.approvals_required
        ORDER BY r.created_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.request_id);
  }
}

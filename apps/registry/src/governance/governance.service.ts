import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EntityManager } from 'typeorm';
import { createEvent, type RegistryPosition } from '@cairn/contracts';
import type { Transaction } from '@cairn/messaging';
import { AppError } from '@cairn/rpc';
import { outboxRecordOf } from '@cairn/service-runtime';
import type { ModelsRepository, ModelVersionRecord, RegisteredModelRow } from '../models/models.repository';
import type { ModelsService } from '../models/models.service';
import type { AuditTrail } from '../persistence/audit-trail.port';
import type { RunProjection } from '../runs/run-projection';
import type { VersionVerification, VersionVerifier } from '../signing/version-verifier';
import { BIGINT_PAGE_KEY, decodePageToken, encodePageToken } from '../validation/page-token';
import {
  parseVersion,
  validateAlias,
  validateComment,
  validateModelName,
} from '../validation/registry-validation';
import { evaluateGates, type GateInputs, type GateResult } from './gates';
import { describeTarget, isProtected, type ModelPolicy, type Target, validatePolicy } from './model-policy';
import { type StoredPolicy, storedPolicyOf } from './policy.repository';
import {
  requestNotFound,
  type RequestStatus,
  type TransitionRequestRecord,
  type TransitionRequestsRepository,
} from './transition-requests.repository';

/** What the governance service needs; wired by the registry module, built directly in tests. */
export interface GovernanceDeps {
  schema: string;
  repository: ModelsRepository;
  requests: TransitionRequestsRepository;
  models: ModelsService;
  audit: AuditTrail;
  runs: RunProjection;
  verifier: VersionVerifier;
  /** Runs `work` in one transaction whose emitted events go through the outbox. */
  unitOfWork: <T>(work: (tx: Transaction) => Promise<T>) => Promise<T>;
  /** Reads outside a transaction. */
  reader: EntityManager;
  logger: Logger;
  /** How often the sweeper expires requests and finishes interrupted promotions. */
  sweepIntervalMs?: number;
  now?: () => number;
}

export interface TransitionAsk {
  name: string;
  version: string;
  to: Target;
  archiveExisting: boolean;
  comment: string;
}

const DEFAULT_LIST_RESULTS = 100;
const MAX_LIST_RESULTS = 1000;
const SWEEP_BATCH = 100;

const position = (t: Target): RegistryPosition =>
  t.kind === 'stage' ? { kind: 'stage', stage: t.stage } : { kind: 'alias', alias: t.alias };

function closed(r: TransitionRequestRecord): AppError {
  return r.status === 'EXPIRED'
    ? new AppError(
        'failed_precondition',
        'TRANSITION_REQUEST_EXPIRED',
        `Transition request ${r.requestId} expired at ${new Date(r.expiresAt).toISOString()} without its approvals; request the transition again.`,
        { requestId: r.requestId },
      )
    : new AppError(
        'failed_precondition',
        'TRANSITION_REQUEST_CLOSED',
        `Transition request ${r.requestId} is ${r.status}; only PENDING requests can change.`,
        { requestId: r.requestId, status: r.status },
      );
}

/**
 * Governance over stage and alias changes: per-model policies, transition requests, four-eyes
 * approval and gates. A protected transition is a request; approvals come from principals other
 * than the requester; when the last required approval arrives, every gate of the model's policy
 * is evaluated at that moment and the transition applies (through ModelsService.applyTransition,
 * with the approvers and request id in its audit entry and ModelPromoted) only if all pass.
 *
 * The promotion runs in its own transaction after the approval commits, because verifying a
 * signature reads the whole artifact and must not hold the model's lock meanwhile. A crash
 * between the two leaves a fully approved PENDING request, which the sweeper finishes.
 */
export class GovernanceService {
  private readonly now: () => number;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private sweeping?: Promise<void>;

  constructor(private readonly d: GovernanceDeps) {
    this.now = d.now ?? Date.now;
  }

  private get s(): string {
    return `"${this.d.schema}"`;
  }

  // --- policies ---

  async getPolicy(name: string): Promise<StoredPolicy> {
    validateModelName(name);
    const model = await this.d.repository.getModel(this.d.reader, name);
    return this.storedPolicy(this.d.reader, model.modelId);
  }

  private storedPolicy(m: EntityManager, modelId: string): Promise<StoredPolicy> {
    return storedPolicyOf(m, this.d.schema, modelId);
  }

  /**
   * Replaces a model's policy. Pending requests keep the approval count they were opened with;
   * the gates that apply are the policy's at the moment of the last approval.
   */
  async setPolicy(actor: string, name: string, policy: ModelPolicy): Promise<StoredPolicy> {
    validateModelName(name);
    const next = validatePolicy(policy);
    return this.d.unitOfWork(async (tx) => {
      const model = await this.d.repository.getModel(tx.manager, name, true);
      const before = await this.storedPolicy(tx.manager, model.modelId);
      const now = this.now();
      await tx.manager.query(
        `INSERT INTO ${this.s}.model_policies (model_id, policy, updated_by, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (model_id) DO UPDATE SET policy = EXCLUDED.policy, updated_by = EXCLUDED.updated_by,
                                              updated_at = EXCLUDED.updated_at`,
        [model.modelId, JSON.stringify(next), actor, now],
      );
      await this.d.audit.append(tx.manager, {
        actor,
        action: 'policy.set',
        objectType: 'policy',
        objectId: name,
        model: name,
        before: before.explicit ? before.policy : null,
        after: next,
        occurredAt: now,
      });
      return { policy: next, explicit: true, updatedAt: now, updatedBy: actor };
    });
  }

  // --- requests ---

  /**
   * Asks for `version` to move to `to`. Unprotected: applies at once and returns the version.
   * Protected: opens a request (at most one open per version and target) and returns it.
   */
  async requestTransition(
    actor: string,
    ask: TransitionAsk,
  ): Promise<{ request?: TransitionRequestRecord; version?: ModelVersionRecord }> {
    validateModelName(ask.name);
    const n = parseVersion(ask.version);
    if (ask.to.kind === 'alias') {
      validateAlias(ask.to.alias);
      if (ask.archiveExisting) {
        throw new AppError(
          'invalid_argument',
          'INVALID_PARAMETER_VALUE',
          'archive_existing_versions applies to stage transitions only, not to aliases.',
        );
      }
    } else if (ask.archiveExisting && ask.to.stage !== 'Staging' && ask.to.stage !== 'Production') {
      throw new AppError(
        'invalid_argument',
        'INVALID_PARAMETER_VALUE',
        `Model version transition cannot archive existing model versions because '${ask.to.stage}' is not an Active stage. Valid stages are Staging, Production`,
      );
    }
    validateComment(ask.comment);

    const outcome = await this.d.unitOfWork(async (tx) => {
      const m = tx.manager;
      const model = await this.d.repository.getModel(m, ask.name, true);
      const version = await this.d.repository.getVersion(m, model, n);
      const policy = (await this.storedPolicy(m, model.modelId)).policy;
      if (!isProtected(policy, ask.to)) {
        const applied = await this.d.models.applyTransition(tx, model, n, ask.to, ask.archiveExisting, {
          actor,
          approvers: [],
          comment: ask.comment,
        });
        return { version: applied.version };
      }
      if (
        ask.to.kind === 'stage' &&
        ask.to.stage !== 'None' &&
        ask.to.stage !== 'Archived' &&
        version.status !== 'READY'
      ) {
        throw new AppError(
          'failed_precondition',
          'MODEL_VERSION_NOT_READY',
          `Model version ${model.name}/${n} is ${version.status}; only READY versions can move to ${ask.to.stage}.`,
          { name: model.name, version: String(n) },
        );
      }
      const now = this.now();
      const open = await this.d.requests.findOpen(m, model.modelId, n, ask.to, now);
      if (open && open.status === 'PENDING') {
        throw new AppError(
          'already_exists',
          'TRANSITION_REQUEST_ALREADY_OPEN',
          `Transition request ${open.requestId} for ${model.name}/${n} to ${describeTarget(ask.to)} is already open.`,
          { requestId: open.requestId },
        );
      }
      if (open) await this.expire(tx, model, open, now);
      const requestId = randomUUID();
      const from: Target = { kind: 'stage', stage: version.stage };
      await this.d.requests.insert(m, {
        requestId,
        model,
        version: n,
        from,
        to: ask.to,
        archiveExisting: ask.archiveExisting,
        requestedBy: actor,
        comment: ask.comment,
        approvalsRequired: policy.approvalsRequired,
        createdAt: now,
        expiresAt: now + policy.requestTtlSeconds * 1000,
      });
      await this.d.audit.append(m, {
        actor,
        action: 'transition_request.create',
        objectType: 'transition_request',
        objectId: requestId,
        model: model.name,
        after: {
          version: n,
          from,
          to: ask.to,
          archiveExisting: ask.archiveExisting,
          approvalsRequired: policy.approvalsRequired,
          expiresAt: now + policy.requestTtlSeconds * 1000,
        },
        reason: ask.comment || null,
        occurredAt: now,
      });
      tx.emit(
        outboxRecordOf(
          createEvent('cairn.registry.transition.requested.v1', {
            data: {
              requestId,
              model: model.name,
              version: String(n),
              from: position(from),
              to: position(ask.to),
              requestedBy: actor,
              ...(ask.comment ? { comment: ask.comment } : {}),
              approvalsRequired: policy.approvalsRequired,
              requestedAt: new Date(now).toISOString(),
            },
          }),
          'registered_model',
        ),
      );
      return { requestId, complete: policy.approvalsRequired === 0 };
    });
    if ('version' in outcome) return { version: outcome.version };
    // A gated-only target (no approvals required) is decided at once.
    if (outcome.complete) await this.finalize(outcome.requestId);
    return { request: await this.getRequest(outcome.requestId) };
  }

  /**
   * Records `actor`'s approval of a pending request. The requester cannot approve their own
   * request, nor can anyone approve twice. The approval that completes the count triggers the
   * gates and, if they pass, the promotion; the returned request shows the outcome.
   */
  async approve(actor: string, requestId: string, comment: string): Promise<TransitionRequestRecord> {
    validateComment(comment);
    const result = await this.onPendingRequest(requestId, async (tx, model, r, now) => {
      if (r.requestedBy === actor) {
        throw new AppError(
          'permission_denied',
          'SELF_APPROVAL_FORBIDDEN',
          `${actor} requested transition ${r.requestId} and cannot approve it; another approver must.`,
          { requestId: r.requestId },
        );
      }
      if (r.approvals.some((a) => a.approver === actor)) {
        throw new AppError(
          'already_exists',
          'APPROVAL_ALREADY_RECORDED',
          `${actor} has already approved transition request ${r.requestId}.`,
          { requestId: r.requestId },
        );
      }
      await this.d.requests.addApproval(tx.manager, r.requestId, actor, comment, now);
      const granted = r.approvals.length + 1;
      await this.d.audit.append(tx.manager, {
        actor,
        action: 'transition_request.approve',
        objectType: 'transition_request',
        objectId: r.requestId,
        model: model.name,
        before: { approvals: r.approvals.map((a) => a.approver) },
        after: {
          approvals: [...r.approvals.map((a) => a.approver), actor],
          approvalsRequired: r.approvalsRequired,
        },
        reason: comment || null,
        occurredAt: now,
      });
      tx.emit(
        outboxRecordOf(
          createEvent('cairn.registry.transition.approved.v1', {
            data: {
              requestId: r.requestId,
              model: model.name,
              version: String(r.version),
              to: position(r.to),
              approver: actor,
              ...(comment ? { comment } : {}),
              approvalsGranted: granted,
              approvalsRequired: r.approvalsRequired,
              approvedAt: new Date(now).toISOString(),
            },
          }),
          'registered_model',
        ),
      );
      return granted >= r.approvalsRequired;
    });
    if (result === true) await this.finalize(requestId);
    return this.getRequest(requestId);
  }

  /** Closes a pending request without promotion; a reason is required. The requester withdraws instead. */
  async reject(actor: string, requestId: string, comment: string): Promise<TransitionRequestRecord> {
    if (comment.trim() === '') {
      throw new AppError(
        'invalid_argument',
        'MISSING_PARAMETER',
        "A rejection needs a reason: missing value for required parameter 'comment'.",
      );
    }
    validateComment(comment);
    await this.onPendingRequest(requestId, async (tx, model, r, now) => {
      if (r.requestedBy === actor) {
        throw new AppError(
          'permission_denied',
          'REQUESTER_CANNOT_REJECT',
          `${actor} requested transition ${r.requestId}; withdraw it (WithdrawTransition) rather than reject it.`,
          { requestId: r.requestId },
        );
      }
      await this.closeWithoutPromotion(tx, model, r, 'REJECTED', actor, comment, now);
    });
    return this.getRequest(requestId);
  }

  /** The requester takes back their own pending request. */
  async withdraw(actor: string, requestId: string, comment: string): Promise<TransitionRequestRecord> {
    validateComment(comment);
    await this.onPendingRequest(requestId, async (tx, model, r, now) => {
      if (r.requestedBy !== actor) {
        throw new AppError(
          'permission_denied',
          'ONLY_REQUESTER_CAN_WITHDRAW',
          `Only ${r.requestedBy}, who requested transition ${r.requestId}, can withdraw it.`,
          { requestId: r.requestId },
        );
      }
      await this.closeWithoutPromotion(tx, model, r, 'WITHDRAWN', actor, comment, now);
    });
    return this.getRequest(requestId);
  }

  async getRequest(requestId: string): Promise<TransitionRequestRecord> {
    return this.d.requests.get(this.d.reader, requestId, this.now());
  }

  /** A model's requests, newest first, optionally of one (shown) status. */
  async listRequests(
    name: string,
    status: RequestStatus | undefined,
    maxResults: number | undefined,
    pageToken: string,
  ): Promise<{ requests: TransitionRequestRecord[]; nextPageToken: string }> {
    validateModelName(name);
    const limit = maxResults ?? DEFAULT_LIST_RESULTS;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_RESULTS) {
      throw new AppError(
        'invalid_argument',
        'INVALID_PARAMETER_VALUE',
        `Invalid value ${limit} for parameter 'max_results' supplied. It must be between 1 and ${MAX_LIST_RESULTS}.`,
      );
    }
    const after = decodePageToken(pageToken, BIGINT_PAGE_KEY);
    const model = await this.d.repository.getModel(this.d.reader, name);
    const rows = await this.d.requests.list(
      this.d.reader,
      { modelId: model.modelId, status, after, limit: limit + 1 },
      this.now(),
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      requests: page,
      nextPageToken:
        rows.length > limit && last ? encodePageToken({ t: String(last.createdAt), id: last.requestId }) : '',
    };
  }

  /** What the gates would say now for `version` moving to `to`; changes nothing. */
  async evaluate(
    name: string,
    version: string,
    to: Target,
  ): Promise<{ passed: boolean; results: GateResult[] }> {
    validateModelName(name);
    const n = parseVersion(version);
    if (to.kind === 'alias') validateAlias(to.alias);
    const m = this.d.reader;
    const model = await this.d.repository.getModel(m, name);
    const v = await this.d.repository.getVersion(m, model, n);
    const policy = (await this.storedPolicy(m, model.modelId)).policy;
    const signature = policy.gates.some((g) => g.kind === 'valid_signature')
      ? await this.d.verifier.verify(m, v)
      : undefined;
    const results = await this.gateResults(m, model, v, to, policy, signature);
    return { passed: results.every((r) => r.passed), results };
  }

  // --- background ---

  start(): void {
    const every = this.d.sweepIntervalMs ?? 30_000;
    const tick = () => {
      if (this.stopped) return;
      this.sweeping = this.sweep()
        .then(
          () => undefined,
          (err: unknown) => this.d.logger.error({ err }, 'transition request sweep failed'),
        )
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, every);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.sweeping;
  }

  /**
   * Records the expiry of requests past their deadline, and finishes requests whose last
   * approval committed but whose promotion did not (a crash in between). Safe on any number
   * of replicas: each step re-checks under the model's lock.
   */
  async sweep(): Promise<{ expired: number; finished: number }> {
    let expired = 0;
    for (const due of await this.d.requests.dueForExpiry(this.d.reader, this.now(), SWEEP_BATCH)) {
      const done = await this.d.unitOfWork(async (tx) => {
        const model = await this.d.repository.lockModelById(tx.manager, due.modelId);
        if (!model) return false;
        const now = this.now();
        const r = await this.d.requests.find(tx.manager, due.requestId, now, true);
        if (!r || r.status !== 'EXPIRED') return false;
        await this.expire(tx, model, r, now);
        return true;
      });
      if (done) expired += 1;
    }
    let finished = 0;
    for (const id of await this.d.requests.approvedButOpen(this.d.reader, SWEEP_BATCH)) {
      if (await this.finalize(id)) finished += 1;
    }
    return { expired, finished };
  }

  // --- internals ---

  /**
   * Runs `work` on a PENDING request under its model's lock and then its own. A request found
   * past its deadline is recorded EXPIRED (committed) and the call fails with
   * TRANSITION_REQUEST_EXPIRED; any other closed request fails with TRANSITION_REQUEST_CLOSED.
   */
  private async onPendingRequest<T>(
    requestId: string,
    work: (tx: Transaction, model: RegisteredModelRow, r: TransitionRequestRecord, now: number) => Promise<T>,
  ): Promise<T> {
    const modelId = await this.d.requests.modelIdOf(this.d.reader, requestId);
    if (modelId === undefined) throw requestNotFound(requestId);
    let refused: AppError | undefined;
    const value = await this.d.unitOfWork(async (tx): Promise<T | undefined> => {
      const model = await this.d.repository.lockModelById(tx.manager, modelId);
      if (!model) throw requestNotFound(requestId);
      const now = this.now();
      const r = await this.d.requests.find(tx.manager, requestId, now, true);
      if (!r) throw requestNotFound(requestId);
      if (r.status === 'EXPIRED') await this.expire(tx, model, r, now); // committed, then refused
      if (r.status !== 'PENDING') {
        refused = closed(r);
        return undefined;
      }
      return work(tx, model, r, now);
    });
    if (refused) throw refused;
    return value as T;
  }

  private async expire(
    tx: Transaction,
    model: RegisteredModelRow,
    r: TransitionRequestRecord,
    now: number,
  ): Promise<void> {
    await this.d.requests.close(tx.manager, r.requestId, 'EXPIRED', now, null, '');
    // No event: TransitionRejected's published reasons do not include expiry (adding one is a
    // breaking change for its consumers); the audit log and the request's status record it.
    await this.d.audit.append(tx.manager, {
      actor: 'system:governance',
      action: 'transition_request.expire',
      objectType: 'transition_request',
      objectId: r.requestId,
      model: model.name,
      before: { status: 'PENDING', approvals: r.approvals.map((a) => a.approver) },
      after: { status: 'EXPIRED', expiresAt: r.expiresAt },
      occurredAt: now,
    });
  }

  private async closeWithoutPromotion(
    tx: Transaction,
    model: RegisteredModelRow,
    r: TransitionRequestRecord,
    status: 'REJECTED' | 'WITHDRAWN' | 'GATES_FAILED',
    actor: string | null,
    comment: string,
    now: number,
    gateResults: GateResult[] = [],
  ): Promise<void> {
    await this.d.requests.close(tx.manager, r.requestId, status, now, actor, comment, gateResults);
    const failed = gateResults.filter((g) => !g.passed);
    await this.d.audit.append(tx.manager, {
      actor: actor ?? 'system:governance',
      action:
        status === 'REJECTED'
          ? 'transition_request.reject'
          : status === 'WITHDRAWN'
            ? 'transition_request.withdraw'
            : 'transition_request.gates_failed',
      objectType: 'transition_request',
      objectId: r.requestId,
      model: model.name,
      before: { status: 'PENDING' },
      after: { status, ...(failed.length > 0 ? { failedGates: failed } : {}) },
      reason: comment || null,
      occurredAt: now,
    });
    tx.emit(
      outboxRecordOf(
        createEvent('cairn.registry.transition.rejected.v1', {
          data: {
            requestId: r.requestId,
            model: model.name,
            version: String(r.version),
            to: position(r.to),
            reason:
              status === 'REJECTED'
                ? 'REJECTED_BY_APPROVER'
                : status === 'WITHDRAWN'
                  ? 'WITHDRAWN'
                  : 'POLICY_GATE_FAILED',
            ...(actor !== null ? { rejectedBy: actor } : {}),
            ...(failed.length > 0
              ? { failedGates: failed.map((g) => ({ gate: g.gate, message: g.message })) }
              : {}),
            ...(comment ? { comment } : {}),
            rejectedAt: new Date(now).toISOString(),
          },
        }),
        'registered_model',
      ),
    );
  }

  /**
   * Decides a fully approved request: gates, then promotion or GATES_FAILED. The signature is
   * verified before the transaction (it streams the artifact); everything else is read and
   * decided under the model's lock. Returns whether this call closed the request.
   */
  private async finalize(requestId: string): Promise<boolean> {
    const r0 = await this.d.requests.find(this.d.reader, requestId, this.now());
    if (!r0 || r0.status !== 'PENDING' || r0.approvals.length < r0.approvalsRequired) return false;
    const policy0 = (await this.storedPolicy(this.d.reader, r0.modelId)).policy;
    let signature: VersionVerification | undefined;
    let verifiedDigest: string | null = null;
    if (policy0.gates.some((g) => g.kind === 'valid_signature')) {
      const v = await this.d.repository.findVersion(this.d.reader, r0.modelId, r0.version);
      if (!v) return false;
      verifiedDigest = v.artifactDigest;
      signature = await this.d.verifier.verify(this.d.reader, v);
    }
    return this.d.unitOfWork(async (tx) => {
      const m = tx.manager;
      const model = await this.d.repository.lockModelById(m, r0.modelId);
      if (!model) return false;
      const now = this.now();
      const r = await this.d.requests.find(m, requestId, now, true);
      // Closed meanwhile by another replica, or (EXPIRED) not fully approved: nothing to decide.
      if (!r || r.status !== 'PENDING' || r.approvals.length < r.approvalsRequired) return false;
      const v = await this.d.repository.getVersion(m, model, r.version);
      const policy = (await this.storedPolicy(m, model.modelId)).policy;
      // The verification holds only for the manifest it checked.
      const check = v.artifactDigest === verifiedDigest ? signature : undefined;
      const results = await this.gateResults(m, model, v, r.to, policy, check);
      const approvers = r.approvals.map((a) => a.approver);
      const closer = approvers[approvers.length - 1] ?? null;
      if (!results.every((g) => g.passed)) {
        await this.closeWithoutPromotion(tx, model, r, 'GATES_FAILED', null, '', now, results);
        return true;
      }
      await this.d.models.applyTransition(tx, model, r.version, r.to, r.archiveExisting, {
        actor: r.requestedBy,
        approvers,
        requestId: r.requestId,
        comment: r.comment,
      });
      await this.d.requests.close(m, r.requestId, 'APPLIED', now, closer, '', results);
      await this.d.audit.append(m, {
        actor: closer ?? 'system:governance',
        action: 'transition_request.apply',
        objectType: 'transition_request',
        objectId: r.requestId,
        model: model.name,
        before: { status: 'PENDING' },
        after: { status: 'APPLIED', approvers, gates: results },
        occurredAt: now,
      });
      return true;
    });
  }

  /** The gates of `policy` for `v` moving to `to`, with the READY precondition of active stages first. */
  private async gateResults(
    m: EntityManager,
    model: RegisteredModelRow,
    v: ModelVersionRecord,
    to: Target,
    policy: ModelPolicy,
    signature: VersionVerification | undefined,
  ): Promise<GateResult[]> {
    const inputs: GateInputs = {
      version: v,
      run: v.runId ? await this.d.runs.find(m, v.runId) : undefined,
      production: [],
      signature,
    };
    if (policy.gates.some((g) => g.kind === 'beats_production')) {
      for (const pv of await this.d.repository.versionsInStage(m, model.modelId, 'Production')) {
        if (pv === v.version) continue;
        const rec = await this.d.repository.findVersion(m, model.modelId, pv);
        inputs.production.push({
          version: pv,
          run: rec?.runId ? await this.d.runs.find(m, rec.runId) : undefined,
        });
      }
    }
    const ready: GateResult[] =
      to.kind === 'stage' && (to.stage === 'Staging' || to.stage === 'Production')
        ? [
            {
              gate: 'version-ready',
              passed: v.status === 'READY',
              message:
                v.status === 'READY'
                  ? 'the version is READY'
                  : `the version is ${v.status}; only READY versions can move to ${to.stage}`,
            },
          ]
        : [];
    return [...ready, ...evaluateGates(policy.gates, inputs)];
  }
}

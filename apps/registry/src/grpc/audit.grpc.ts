import { Inject, Injectable } from '@nestjs/common';
import canonicalize from 'canonicalize';
import { registryV1 as pb } from '@cairn/proto';
import { AppError, GrpcService } from '@cairn/rpc';
import { type AuditEntry, AuditLog, type AuditListQuery } from '../audit/audit-log';
import { validateModelName } from '../validation/registry-validation';

type Req<K extends keyof typeof pb.AuditServiceService> =
  (typeof pb.AuditServiceService)[K]['requestDeserialize'] extends (b: Buffer) => infer R ? R : never;

const MAX_ACTOR = 256;

/**
 * The stored document text. Entries store RFC 8785 canonical JSON, and canonicalizing its parse
 * gives the same text back, so these are the exact bytes the entry's hash covers: a client can
 * recompute the chain from the listing alone (audit/audit-chain.ts has the formula).
 */
function documentText(value: unknown): string {
  return value === null || value === undefined ? '' : (canonicalize(value) ?? '');
}

function entryToProto(e: AuditEntry): pb.AuditEntry {
  return {
    seq: e.seq,
    entryId: e.id,
    occurredAt: e.occurredAt,
    actor: e.actor,
    action: e.action,
    objectType: e.objectType,
    objectId: e.objectId,
    model: e.model ?? '',
    beforeJson: documentText(e.before),
    afterJson: documentText(e.after),
    reason: e.reason ?? '',
    prevHash: e.prevHash,
    hash: e.hash,
  };
}

function invalidTime(field: string, message: string, value: number): AppError {
  return new AppError('invalid_argument', 'INVALID_TIME_RANGE', message, { field, value: String(value) });
}

/** The request's filters as the log takes them: 0 and '' mean "no bound", to_time is inclusive. */
function listQuery(req: Req<'listAuditEntries'>): AuditListQuery {
  if (req.model !== '') validateModelName(req.model, 'model');
  if (req.actor.length > MAX_ACTOR || req.actor.includes('\u0000')) {
    throw new AppError(
      'invalid_argument',
      'INVALID_PARAMETER_VALUE',
      `'actor' must be at most ${MAX_ACTOR} characters without NUL.`,
      { field: 'actor' },
    );
  }
  if (req.fromTime < 0) throw invalidTime('from_time', 'from_time must not be negative (ms).', req.fromTime);
  if (req.toTime < 0) throw invalidTime('to_time', 'to_time must not be negative (ms).', req.toTime);
  if (req.fromTime > 0 && req.toTime > 0 && req.toTime < req.fromTime) {
    throw invalidTime(
      'to_time',
      `to_time (${req.toTime}) is before from_time (${req.fromTime}).`,
      req.toTime,
    );
  }
  return {
    ...(req.model !== '' ? { model: req.model } : {}),
    ...(req.actor !== '' ? { actor: req.actor } : {}),
    ...(req.fromTime > 0 ? { fromTime: req.fromTime } : {}),
    // The log's upper bound is exclusive; at the largest safe integer there is nothing above.
    ...(req.toTime > 0 && req.toTime < Number.MAX_SAFE_INTEGER ? { toTime: req.toTime + 1 } : {}),
    ...(req.maxResults !== undefined ? { maxResults: req.maxResults } : {}),
    ...(req.pageToken !== '' ? { pageToken: req.pageToken } : {}),
  };
}

/** cairn.registry.v1.AuditService: the hash-chained log of every registry state change. */
@Injectable()
@GrpcService(pb.AuditServiceService)
export class AuditGrpc {
  constructor(@Inject(AuditLog) private readonly audit: AuditLog) {}

  async listAuditEntries(req: Req<'listAuditEntries'>): Promise<pb.ListAuditEntriesResponse> {
    const page = await this.audit.list(listQuery(req));
    return { entries: page.entries.map(entryToProto), nextPageToken: page.nextPageToken ?? '' };
  }

  async verifyAuditChain(): Promise<pb.VerifyAuditChainResponse> {
    const r = await this.audit.verify();
    return {
      ok: r.ok,
      entriesChecked: r.entriesChecked,
      headSeq: r.headSeq,
      firstBadSeq: r.firstBadSeq ?? 0,
      reason: r.reason ?? '',
      message: r.message ?? '',
      checkpointsChecked: r.checkpointsChecked,
    };
  }
}

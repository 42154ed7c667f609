import { Inject, Injectable } from '@nestjs/common';
import { registryV1 as pb } from '@cairn/proto';
import { AppError, type CallContext, GrpcService } from '@cairn/rpc';
import type { GateResult } from '../governance/gates';
import { GovernanceService } from '../governance/governance.service';
import type { StoredPolicy } from '../governance/policy.repository';
import { type Comparator, type GateSpec, invalidPolicy, type ModelPolicy } from '../governance/model-policy';
import type { RequestStatus, TransitionRequestRecord } from '../governance/transition-requests.repository';
import { principalOf } from '../identity/caller';
import { missingValue } from '../validation/registry-validation';
import {
  modelVersionToProto,
  positionFromProto,
  positionToProto,
  stageFromProto,
  stageToProto,
} from './registry.mapping';

type Req<K extends keyof typeof pb.GovernanceServiceService> =
  (typeof pb.GovernanceServiceService)[K]['requestDeserialize'] extends (b: Buffer) => infer R ? R : never;

const COMPARATOR_FROM_PROTO: Partial<Record<pb.Comparator, Comparator>> = {
  [pb.Comparator.COMPARATOR_GREATER]: '>',
  [pb.Comparator.COMPARATOR_GREATER_OR_EQUAL]: '>=',
  [pb.Comparator.COMPARATOR_LESS]: '<',
  [pb.Comparator.COMPARATOR_LESS_OR_EQUAL]: '<=',
};
const COMPARATOR_TO_PROTO: Record<Comparator, pb.Comparator> = {
  '>': pb.Comparator.COMPARATOR_GREATER,
  '>=': pb.Comparator.COMPARATOR_GREATER_OR_EQUAL,
  '<': pb.Comparator.COMPARATOR_LESS,
  '<=': pb.Comparator.COMPARATOR_LESS_OR_EQUAL,
};
const STATUS_TO_PROTO: Record<RequestStatus, pb.TransitionRequestStatus> = {
  PENDING: pb.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_PENDING,
  APPLIED: pb.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_APPLIED,
  REJECTED: pb.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_REJECTED,
  GATES_FAILED: pb.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_GATES_FAILED,
  WITHDRAWN: pb.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_WITHDRAWN,
  EXPIRED: pb.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_EXPIRED,
};

function gateFromProto(g: pb.Gate, i: number): GateSpec {
  const kind = g.kind;
  const at = `gates[${i}]`;
  switch (kind?.$case) {
    case 'metricThreshold': {
      const comparator = COMPARATOR_FROM_PROTO[kind.value.comparator];
      if (!comparator) throw invalidPolicy(`${at}.metric_threshold.comparator`, 'must be set');
      return {
        kind: 'metric_threshold',
        metric: kind.value.metric,
        comparator,
        threshold: kind.value.threshold,
      };
    }
    case 'requiredTags':
      return {
        kind: 'required_tags',
        tags: kind.value.tags.map((t) =>
          t.value === undefined ? { key: t.key } : { key: t.key, value: t.value },
        ),
      };
    case 'beatsProduction':
      return {
        kind: 'beats_production',
        metric: kind.value.metric,
        higherIsBetter: kind.value.higherIsBetter,
        minDelta: kind.value.minDelta,
      };
    case 'validSignature':
      return { kind: 'valid_signature' };
    case undefined:
      throw invalidPolicy(at, 'names no gate kind');
  }
}

function gateToProto(g: GateSpec): pb.Gate {
  switch (g.kind) {
    case 'metric_threshold':
      return {
        kind: {
          $case: 'metricThreshold',
          value: { metric: g.metric, comparator: COMPARATOR_TO_PROTO[g.comparator], threshold: g.threshold },
        },
      };
    case 'required_tags':
      return { kind: { $case: 'requiredTags', value: { tags: g.tags.map((t) => ({ ...t })) } } };
    case 'beats_production':
      return {
        kind: {
          $case: 'beatsProduction',
          value: { metric: g.metric, higherIsBetter: g.higherIsBetter, minDelta: g.minDelta },
        },
      };
    case 'valid_signature':
      return { kind: { $case: 'validSignature', value: {} } };
  }
}

export function policyFromProto(p: pb.ModelPolicy | undefined): ModelPolicy {
  if (!p) throw missingValue('policy');
  return {
    protectedStages: p.protectedStages.map((s, i) => stageFromProto(s, `policy.protected_stages[${i}]`)),
    protectedAliases: [...p.protectedAliases],
    approvalsRequired: p.approvalsRequired,
    requestTtlSeconds: p.requestTtlSeconds,
    gates: p.gates.map(gateFromProto),
  };
}

export function policyToProto(p: StoredPolicy): pb.ModelPolicy {
  return {
    protectedStages: p.policy.protectedStages.map(stageToProto),
    protectedAliases: p.policy.protectedAliases,
    approvalsRequired: p.policy.approvalsRequired,
    requestTtlSeconds: p.policy.requestTtlSeconds,
    gates: p.policy.gates.map(gateToProto),
    updatedAt: p.updatedAt ?? 0,
    updatedBy: p.updatedBy ?? '',
  };
}

const gateResultToProto = (g: GateResult): pb.GateResult => ({
  gate: g.gate,
  passed: g.passed,
  message: g.message,
});

export function transitionRequestToProto(r: TransitionRequestRecord): pb.TransitionRequest {
  return {
    requestId: r.requestId,
    name: r.name,
    version: String(r.version),
    from: positionToProto(r.from),
    to: positionToProto(r.to),
    archiveExistingVersions: r.archiveExisting,
    requestedBy: r.requestedBy,
    comment: r.comment,
    status: STATUS_TO_PROTO[r.status],
    approvalsRequired: r.approvalsRequired,
    approvals: r.approvals.map((a) => ({
      approver: a.approver,
      comment: a.comment,
      approvedAt: a.approvedAt,
    })),
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    closedAt: r.closedAt ?? 0,
    closedBy: r.closedBy ?? '',
    closeComment: r.closeComment,
    gateResults: r.gateResults.map(gateResultToProto),
  };
}

function statusFromProto(s: pb.TransitionRequestStatus): RequestStatus | undefined {
  if (s === pb.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_UNSPECIFIED) return undefined;
  const found = (Object.keys(STATUS_TO_PROTO) as RequestStatus[]).find((k) => STATUS_TO_PROTO[k] === s);
  if (!found) {
    throw new AppError(
      'invalid_argument',
      'INVALID_PARAMETER_VALUE',
      `Unknown transition request status ${s}`,
    );
  }
  return found;
}

/**
 * cairn.registry.v1.GovernanceService: policies, transition requests, approvals and gates.
 * Who may approve at all (the approver role) is the gateway's RBAC; the registry enforces
 * what holds for everyone: never one's own request, never twice, and every gate.
 */
@Injectable()
@GrpcService(pb.GovernanceServiceService)
export class GovernanceGrpc {
  constructor(@Inject(GovernanceService) private readonly governance: GovernanceService) {}

  async getModelPolicy(req: Req<'getModelPolicy'>): Promise<pb.GetModelPolicyResponse> {
    const stored = await this.governance.getPolicy(req.name);
    return { policy: policyToProto(stored), explicit: stored.explicit };
  }

  async setModelPolicy(req: Req<'setModelPolicy'>, ctx: CallContext): Promise<pb.SetModelPolicyResponse> {
    const actor = principalOf(ctx);
    return {
      policy: policyToProto(await this.governance.setPolicy(actor, req.name, policyFromProto(req.policy))),
    };
  }

  async requestTransition(
    req: Req<'requestTransition'>,
    ctx: CallContext,
  ): Promise<pb.RequestTransitionResponse> {
    const actor = principalOf(ctx);
    const out = await this.governance.requestTransition(actor, {
      name: req.name,
      version: req.version,
      to: positionFromProto(req.to),
      archiveExisting: req.archiveExistingVersions,
      comment: req.comment,
    });
    return {
      ...(out.request ? { request: transitionRequestToProto(out.request) } : {}),
      ...(out.version ? { modelVersion: modelVersionToProto(out.version) } : {}),
    };
  }

  async approveTransition(
    req: Req<'approveTransition'>,
    ctx: CallContext,
  ): Promise<pb.ApproveTransitionResponse> {
    const actor = principalOf(ctx);
    return {
      request: transitionRequestToProto(await this.governance.approve(actor, req.requestId, req.comment)),
    };
  }

  async rejectTransition(
    req: Req<'rejectTransition'>,
    ctx: CallContext,
  ): Promise<pb.RejectTransitionResponse> {
    const actor = principalOf(ctx);
    return {
      request: transitionRequestToProto(await this.governance.reject(actor, req.requestId, req.comment)),
    };
  }

  async withdrawTransition(
    req: Req<'withdrawTransition'>,
    ctx: CallContext,
  ): Promise<pb.WithdrawTransitionResponse> {
    const actor = principalOf(ctx);
    return {
      request: transitionRequestToProto(await this.governance.withdraw(actor, req.requestId, req.comment)),
    };
  }

  async getTransitionRequest(req: Req<'getTransitionRequest'>): Promise<pb.GetTransitionRequestResponse> {
    return { request: transitionRequestToProto(await this.governance.getRequest(req.requestId)) };
  }

  async listTransitionRequests(
    req: Req<'listTransitionRequests'>,
  ): Promise<pb.ListTransitionRequestsResponse> {
    const page = await this.governance.listRequests(
      req.name,
      statusFromProto(req.status),
      req.maxResults,
      req.pageToken,
    );
    return { requests: page.requests.map(transitionRequestToProto), nextPageToken: page.nextPageToken };
  }

  async evaluateGates(req: Req<'evaluateGates'>): Promise<pb.EvaluateGatesResponse> {
    const out = await this.governance.evaluate(req.name, req.version, positionFromProto(req.to));
    return { passed: out.passed, results: out.results.map(gateResultToProto) };
  }
}

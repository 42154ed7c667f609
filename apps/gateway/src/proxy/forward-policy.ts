import type { Metadata } from '@grpc/grpc-js';
import { LRUCache } from 'lru-cache';
import type { registryV1, trackingV1 } from '@cairn/proto';
import { AppError, type CallContext, type CallerIdentity } from '@cairn/rpc';
import type { AuthorizationService } from '../auth/authorization.service';
import type { AccessTarget } from '../auth/decide';
import { type AccessRule, type Action, actionOf, type ResourceRef } from './access-rules';
import type { PrincipalRateLimiter } from './rate-limit';
import type { ForwardPolicy } from './service-forwarder';

/** Lookups the policy makes on the internal services, as the caller. */
export interface ResourceLookups {
  experimentOfRun(ctx: CallContext, runId: string): Promise<string>;
  experimentIdByName(ctx: CallContext, name: string): Promise<string>;
  modelOfTransitionRequest(ctx: CallContext, requestId: string): Promise<string>;
}

export interface GatewayForwardPolicyDeps {
  authorization: AuthorizationService;
  /** Per-principal call limits; none when absent. */
  rateLimiter?: PrincipalRateLimiter;
  lookups: ResourceLookups;
  /** The caller's identity token for `audience` (metadata `cairn-identity`), plus trace context. */
  outboundMetadata(identity: CallerIdentity, audience: string, ctx: CallContext): Promise<Metadata>;
}

/** Runs never move between experiments, so their experiment is cached (bounded). */
const RUN_EXPERIMENTS = 100_000;

function unauthenticated(): AppError {
  return new AppError(
    'unauthenticated',
    'CREDENTIALS_REQUIRED',
    'This call needs credentials: an API key or bearer token (authorization: Bearer …), or HTTP Basic.',
  );
}

/**
 * Authorization of re-exported calls: the caller's rate limit, the rule's action against the caller's roles, and each
 * resource the call touches against the caller's permissions on it (runs are checked through
 * their experiment, transition requests through their model). Searches are filtered by READ,
 * creators get MANAGE on what they create, and the grants of deleted or renamed resources follow.
 */
export class GatewayForwardPolicy implements ForwardPolicy {
  private readonly runExperiments = new LRUCache<string, string>({ max: RUN_EXPERIMENTS });

  constructor(private readonly d: GatewayForwardPolicyDeps) {}

  async authorize(ctx: CallContext, _path: string, rule: AccessRule, req: unknown): Promise<void> {
    const identity = ctx.identity;
    if (!identity) throw unauthenticated();
    await this.d.rateLimiter?.take(identity.principal);
    const action = actionOf(rule, req);
    const refs = rule.resources?.(req) ?? [];
    const own = refs.filter((r) => (r.action ?? action) === action);
    await this.d.authorization.authorize(identity, action, ...(await this.targetsOf(ctx, own)));
    // Resources the call touches in another way (a source run it reads while it edits a model).
    for (const ref of refs.filter((r) => (r.action ?? action) !== action)) {
      await this.d.authorization.authorize(
        identity,
        ref.action as Action,
        ...(await this.targetsOf(ctx, [ref])),
      );
    }
  }

  async respond(
    ctx: CallContext,
    path: string,
    rule: AccessRule,
    req: unknown,
    res: unknown,
  ): Promise<unknown> {
    const identity = ctx.identity as CallerIdentity;
    if (rule.grantsCreator) {
      const created = rule.grantsCreator(res);
      const [target] = await this.targetsOf(ctx, [created]);
      if (target.kind !== 'principal') await this.d.authorization.grantCreator(identity.principal, target);
    }
    await this.followLifecycle(path, req);
    switch (rule.filterResults) {
      case undefined:
        return res;
      case 'experiments': {
        const r = res as trackingV1.SearchExperimentsResponse;
        const keep = await this.readable(identity, r.experiments, (e) => ({
          kind: 'experiment',
          id: e.experimentId,
        }));
        return { ...r, experiments: keep };
      }
      case 'registered_models': {
        const r = res as registryV1.SearchRegisteredModelsResponse;
        const keep = await this.readable(identity, r.registeredModels, (m) => ({
          kind: 'registered_model',
          id: m.name,
        }));
        return { ...r, registeredModels: keep };
      }
      case 'model_versions': {
        const r = res as registryV1.SearchModelVersionsResponse;
        const keep = await this.readable(identity, r.modelVersions, (v) => ({
          kind: 'registered_model',
          id: v.name,
        }));
        return { ...r, modelVersions: keep };
      }
      case 'runs':
        // SearchRuns names its experiments, each checked before the call.
        return res;
    }
  }

  /** A run's experiment (runs never move, so it is cached); NOT_FOUND for an unknown run. */
  async experimentOfRun(ctx: CallContext, runId: string): Promise<string> {
    let experimentId = this.runExperiments.get(runId);
    if (experimentId === undefined) {
      experimentId = await this.d.lookups.experimentOfRun(ctx, runId);
      this.runExperiments.set(runId, experimentId);
    }
    return experimentId;
  }

  outbound(ctx: CallContext, audience: string): Promise<Metadata> {
    return this.d.outboundMetadata(ctx.identity as CallerIdentity, audience, ctx);
  }

  /** Grants follow their resources: dropped with a deleted one, moved with a renamed model. */
  private async followLifecycle(path: string, req: unknown): Promise<void> {
    switch (path) {
      case '/cairn.tracking.v1.ExperimentService/DeleteExperiment':
        // MLflow keeps a deleted experiment restorable, and its permissions with it.
        return;
      case '/cairn.registry.v1.ModelRegistryService/DeleteRegisteredModel':
        await this.d.authorization.forgetResource({
          kind: 'registered_model',
          id: (req as registryV1.DeleteRegisteredModelRequest).name,
        });
        return;
      case '/cairn.registry.v1.ModelRegistryService/RenameRegisteredModel': {
        const r = req as registryV1.RenameRegisteredModelRequest;
        await this.d.authorization.renameRegisteredModel(r.name, r.newName);
        return;
      }
      default:
        return;
    }
  }

  private async readable<T>(
    identity: CallerIdentity,
    items: T[],
    target: (item: T) => AccessTarget,
  ): Promise<T[]> {
    if (items.length === 0) return items;
    const decisions = await this.d.authorization.decideEach(identity, 'read', items.map(target));
    return items.filter((_, i) => decisions[i].allowed);
  }

  private async targetsOf(ctx: CallContext, refs: ResourceRef[]): Promise<AccessTarget[]> {
    const out: AccessTarget[] = [];
    for (const ref of refs) {
      switch (ref.kind) {
        case 'experiment':
          out.push({ kind: 'experiment', id: ref.id });
          break;
        case 'experiment_name':
          out.push({ kind: 'experiment', id: await this.d.lookups.experimentIdByName(ctx, ref.name) });
          break;
        case 'run':
          out.push({ kind: 'experiment', id: await this.experimentOfRun(ctx, ref.runId) });
          break;
        case 'registered_model':
          out.push({ kind: 'registered_model', id: ref.name });
          break;
        case 'transition_request':
          // Not cached: the model may be renamed while the request is open.
          out.push({
            kind: 'registered_model',
            id: await this.d.lookups.modelOfTransitionRequest(ctx, ref.requestId),
          });
          break;
      }
    }
    return out;
  }
}

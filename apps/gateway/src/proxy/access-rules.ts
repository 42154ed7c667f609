import type { ServiceDefinition } from '@grpc/grpc-js';
import { registryV1, registryWebhooksV1, trackingV1 } from '@cairn/proto';

/*
 * The authorization rule of every RPC the gateway re-exports. Each rule names the action
 * (checked against the caller's roles) and the resources the call touches (checked against
 * the caller's per-resource permissions, MLflow's READ / EDIT / MANAGE / NO_PERMISSIONS).
 * `rulesFor` is typed so that a service without a rule for one of its methods does not
 * compile, and a test enumerates every re-exported method at run time as well: no RPC is
 * reachable without an explicit decision.
 *
 * Resources come from the request message; a run is checked through its experiment and a
 * transition request through its model, which the gateway resolves (MLflow's auth resolves
 * runs the same way). Searches are filtered: what the caller may not read is left out of the
 * results, as MLflow's auth app does.
 */

/** What a call does, in terms of the roles (viewer < contributor < approver/operator < admin). */
export type Action =
  /** Read what the resource permission allows. */
  | 'read'
  /** Create a new top-level resource (experiment, registered model); needs contributor. */
  | 'create'
  /** Change a resource; needs contributor and EDIT on it. */
  | 'edit'
  /** Delete a resource or change its permissions and policy; needs contributor and MANAGE. */
  | 'manage'
  /** Approve or reject a transition request; needs the approver role and READ on the model. */
  | 'approve'
  /** Platform-wide operations (audit chain verification); needs operator. */
  | 'operate'
  /** Registry-wide settings (webhooks); needs admin. */
  | 'admin';

/** A resource a call touches; `action` when it differs from the call's own (e.g. reading a source run). */
export type ResourceRef = (
  | { kind: 'experiment'; id: string }
  | { kind: 'experiment_name'; name: string }
  | { kind: 'run'; runId: string }
  | { kind: 'registered_model'; name: string }
  | { kind: 'transition_request'; requestId: string }
) & { action?: Action };

/** Which kind of results a search returns, for filtering by READ. */
export type ResultFilter = 'experiments' | 'runs' | 'registered_models' | 'model_versions';

export interface AccessRule<Req = unknown, Res = unknown> {
  /** The action, or how it depends on the request. */
  action: Action | ((req: Req) => Action);
  /** The resources the call touches (of its first message, for a client stream). */
  resources?: (req: Req) => ResourceRef[];
  /** Results the caller may not read are removed from the response. */
  filterResults?: ResultFilter;
  /** The caller is granted MANAGE on what the call creates, as MLflow's auth app does. */
  grantsCreator?: (res: Res) => ResourceRef;
  /** What the gateway, not the caller, says in the request (who the caller is). */
  stamp?: (req: Req, principal: string) => Req;
}

type ReqOf<M> = M extends { requestDeserialize: (b: Buffer) => infer R } ? R : never;
type ResOf<M> = M extends { responseDeserialize: (b: Buffer) => infer R } ? R : never;
type RulesFor<D> = { [K in keyof D]: AccessRule<ReqOf<D[K]>, ResOf<D[K]>> };

/** A service's rules keyed by method path (`/pkg.Service/Method`); one for every method. */
function rulesFor<D extends ServiceDefinition>(definition: D, rules: RulesFor<D>): Map<string, AccessRule> {
  const out = new Map<string, AccessRule>();
  for (const [key, method] of Object.entries(definition)) {
    out.set(method.path, (rules as Record<string, AccessRule>)[key]);
  }
  return out;
}

const experiment = (id: string): ResourceRef[] => [{ kind: 'experiment', id }];
const run = (runId: string): ResourceRef[] => [{ kind: 'run', runId }];
const model = (name: string): ResourceRef[] => [{ kind: 'registered_model', name }];
const request = (requestId: string): ResourceRef[] => [{ kind: 'transition_request', requestId }];

const experimentRules = rulesFor(trackingV1.ExperimentServiceService, {
  createExperiment: {
    action: 'create',
    grantsCreator: (res) => ({ kind: 'experiment', id: res.experimentId }),
  },
  getExperiment: { action: 'read', resources: (r) => experiment(r.experimentId) },
  getExperimentByName: {
    action: 'read',
    resources: (r) => [{ kind: 'experiment_name', name: r.experimentName }],
  },
  searchExperiments: { action: 'read', filterResults: 'experiments' },
  updateExperiment: { action: 'edit', resources: (r) => experiment(r.experimentId) },
  deleteExperiment: { action: 'manage', resources: (r) => experiment(r.experimentId) },
  restoreExperiment: { action: 'manage', resources: (r) => experiment(r.experimentId) },
  setExperimentTag: { action: 'edit', resources: (r) => experiment(r.experimentId) },
  deleteExperimentTag: { action: 'edit', resources: (r) => experiment(r.experimentId) },
});

const runRules = rulesFor(trackingV1.RunServiceService, {
  // MLflow: creating a run edits its experiment. Its user is the authenticated caller's name.
  createRun: {
    action: 'edit',
    resources: (r) => experiment(r.experimentId),
    stamp: (r, principal) => ({ ...r, userId: principal.replace(/^user:/, '') }),
  },
  getRun: { action: 'read', resources: (r) => run(r.runId) },
  updateRun: { action: 'edit', resources: (r) => run(r.runId) },
  deleteRun: { action: 'manage', resources: (r) => run(r.runId) },
  restoreRun: { action: 'manage', resources: (r) => run(r.runId) },
  logMetric: { action: 'edit', resources: (r) => run(r.runId) },
  logParam: { action: 'edit', resources: (r) => run(r.runId) },
  setTag: { action: 'edit', resources: (r) => run(r.runId) },
  deleteTag: { action: 'edit', resources: (r) => run(r.runId) },
  logBatch: { action: 'edit', resources: (r) => run(r.runId) },
  logInputs: { action: 'edit', resources: (r) => run(r.runId) },
  // Every listed experiment must be readable (MLflow's auth checks each one).
  searchRuns: { action: 'read', resources: (r) => r.experimentIds.flatMap(experiment) },
  getMetricHistory: { action: 'read', resources: (r) => run(r.runId) },
  // A client stream: the first message names the run, and every later one must name the same.
  streamMetrics: { action: 'edit', resources: (r) => run(r.runId) },
});

const artifactRules = rulesFor(trackingV1.ArtifactServiceService, {
  listArtifacts: { action: 'read', resources: (r) => run(r.runId) },
  // The first message is the header naming the run.
  uploadArtifact: {
    action: 'edit',
    resources: (r) => (r.part?.$case === 'header' ? run(r.part.value.runId) : []),
  },
  downloadArtifact: { action: 'read', resources: (r) => run(r.runId) },
  // MANAGE, as MLflow since CVE-2024-4263 (EDIT users could delete any artifact).
  deleteArtifact: { action: 'manage', resources: (r) => run(r.runId) },
});

const modelRegistryRules = rulesFor(registryV1.ModelRegistryServiceService, {
  createRegisteredModel: {
    action: 'create',
    grantsCreator: (res) => ({ kind: 'registered_model', name: res.registeredModel?.name ?? '' }),
  },
  getRegisteredModel: { action: 'read', resources: (r) => model(r.name) },
  renameRegisteredModel: { action: 'manage', resources: (r) => model(r.name) },
  updateRegisteredModel: { action: 'edit', resources: (r) => model(r.name) },
  deleteRegisteredModel: { action: 'manage', resources: (r) => model(r.name) },
  searchRegisteredModels: { action: 'read', filterResults: 'registered_models' },
  getLatestVersions: { action: 'read', resources: (r) => model(r.name) },
  setRegisteredModelTag: { action: 'edit', resources: (r) => model(r.name) },
  deleteRegisteredModelTag: { action: 'edit', resources: (r) => model(r.name) },
  setRegisteredModelAlias: { action: 'edit', resources: (r) => model(r.name) },
  deleteRegisteredModelAlias: { action: 'edit', resources: (r) => model(r.name) },
  getModelVersionByAlias: { action: 'read', resources: (r) => model(r.name) },
  // Registering from a run also reads the run (its artifacts become the version's): READ on its
  // experiment is enough, as in MLflow, where only the model is checked.
  createModelVersion: {
    action: 'edit',
    resources: (r) => [
      ...model(r.name),
      ...(r.runId ? [{ kind: 'run' as const, runId: r.runId, action: 'read' as const }] : []),
    ],
  },
  getModelVersion: { action: 'read', resources: (r) => model(r.name) },
  updateModelVersion: { action: 'edit', resources: (r) => model(r.name) },
  deleteModelVersion: { action: 'manage', resources: (r) => model(r.name) },
  searchModelVersions: { action: 'read', filterResults: 'model_versions' },
  getModelVersionDownloadUri: { action: 'read', resources: (r) => model(r.name) },
  setModelVersionTag: { action: 'edit', resources: (r) => model(r.name) },
  deleteModelVersionTag: { action: 'edit', resources: (r) => model(r.name) },
  transitionModelVersionStage: { action: 'edit', resources: (r) => model(r.name) },
  getModelVersionLineage: { action: 'read', resources: (r) => model(r.name) },
});

const governanceRules = rulesFor(registryV1.GovernanceServiceService, {
  getModelPolicy: { action: 'read', resources: (r) => model(r.name) },
  setModelPolicy: { action: 'manage', resources: (r) => model(r.name) },
  requestTransition: { action: 'edit', resources: (r) => model(r.name) },
  approveTransition: { action: 'approve', resources: (r) => request(r.requestId) },
  rejectTransition: { action: 'approve', resources: (r) => request(r.requestId) },
  // The registry also refuses anyone but the requester.
  withdrawTransition: { action: 'edit', resources: (r) => request(r.requestId) },
  getTransitionRequest: { action: 'read', resources: (r) => request(r.requestId) },
  listTransitionRequests: { action: 'read', resources: (r) => model(r.name) },
  evaluateGates: { action: 'read', resources: (r) => model(r.name) },
});

const signingRules = rulesFor(registryV1.SigningServiceService, {
  setModelVersionSignature: { action: 'edit', resources: (r) => model(r.name) },
  verifyModelVersion: { action: 'read', resources: (r) => model(r.name) },
  getModelVersionManifest: { action: 'read', resources: (r) => model(r.name) },
});

const auditRules = rulesFor(registryV1.AuditServiceService, {
  // One model's trail is readable by its readers; the whole registry's is an operator's.
  listAuditEntries: {
    action: (r) => (r.model ? 'read' : 'operate'),
    resources: (r) => (r.model ? model(r.model) : []),
  },
  verifyAuditChain: { action: 'operate' },
});

const webhookRules = rulesFor(registryWebhooksV1.WebhookServiceService, {
  createWebhook: { action: 'admin' },
  getWebhook: { action: 'admin' },
  listWebhooks: { action: 'admin' },
  updateWebhook: { action: 'admin' },
  deleteWebhook: { action: 'admin' },
  testWebhook: { action: 'admin' },
  listWebhookDeliveries: { action: 'admin' },
});

/** The re-exported services, by the internal service that serves them. */
export const PROXIED_SERVICES = {
  tracking: [
    trackingV1.ExperimentServiceService,
    trackingV1.RunServiceService,
    trackingV1.ArtifactServiceService,
  ],
  registry: [
    registryV1.ModelRegistryServiceService,
    registryV1.GovernanceServiceService,
    registryV1.SigningServiceService,
    registryV1.AuditServiceService,
    registryWebhooksV1.WebhookServiceService,
  ],
} as const satisfies Record<string, readonly ServiceDefinition[]>;

/** Every re-exported method's rule, by method path. */
export const ACCESS_RULES: ReadonlyMap<string, AccessRule> = new Map([
  ...experimentRules,
  ...runRules,
  ...artifactRules,
  ...modelRegistryRules,
  ...governanceRules,
  ...signingRules,
  ...auditRules,
  ...webhookRules,
]);

/** The action a call performs. */
export function actionOf(rule: AccessRule, req: unknown): Action {
  return typeof rule.action === 'function' ? rule.action(req) : rule.action;
}

import { gatewayAuthV1, type gatewayEventsV1, registryV1, trackingV1 } from '@cairn/proto';
import { enumName } from './output';
import { titleCase } from './parse';

/*
 * What `--json` prints: the API's messages with enum values as names (as protobuf's JSON
 * mapping does) instead of numbers, stages named as MLflow names them (`Production`).
 */

export const runStatusName = (s: trackingV1.RunStatus) => enumName(trackingV1.RunStatus, 'RUN_STATUS_', s);
export const lifecycleName = (s: trackingV1.LifecycleStage) =>
  enumName(trackingV1.LifecycleStage, 'LIFECYCLE_STAGE_', s);
export const stageName = (s: registryV1.Stage) => titleCase(enumName(registryV1.Stage, 'STAGE_', s));
export const versionStatusName = (s: registryV1.ModelVersionStatus) =>
  enumName(registryV1.ModelVersionStatus, 'MODEL_VERSION_STATUS_', s);
export const requestStatusName = (s: registryV1.TransitionRequestStatus) =>
  enumName(registryV1.TransitionRequestStatus, 'TRANSITION_REQUEST_STATUS_', s);
export const roleName = (r: gatewayAuthV1.Role) => enumName(gatewayAuthV1.Role, 'ROLE_', r).toLowerCase();

export function experimentView(e: trackingV1.Experiment) {
  return { ...e, lifecycleStage: lifecycleName(e.lifecycleStage) };
}

export function runView(run: trackingV1.Run) {
  const info = run.info;
  return {
    info: info && {
      ...info,
      status: runStatusName(info.status),
      lifecycleStage: lifecycleName(info.lifecycleStage),
    },
    data: run.data ?? { metrics: [], params: [], tags: [] },
    inputs: run.inputs ?? { datasetInputs: [] },
  };
}

export function modelVersionView(v: registryV1.ModelVersion) {
  return { ...v, currentStage: stageName(v.currentStage), status: versionStatusName(v.status) };
}

export function registeredModelView(m: registryV1.RegisteredModel) {
  return { ...m, latestVersions: m.latestVersions.map(modelVersionView) };
}

/** `Production` for a stage, `@champion` for an alias. */
export function positionText(p: registryV1.Position | undefined): string {
  const target = p?.target;
  if (!target) return '';
  return target.$case === 'stage' ? stageName(target.value) : `@${target.value}`;
}

function positionView(p: registryV1.Position | undefined) {
  const target = p?.target;
  if (!target) return undefined;
  return target.$case === 'stage' ? { stage: stageName(target.value) } : { alias: target.value };
}

export function transitionRequestView(r: registryV1.TransitionRequest) {
  return { ...r, from: positionView(r.from), to: positionView(r.to), status: requestStatusName(r.status) };
}

export function userView(u: gatewayAuthV1.User) {
  return {
    ...u,
    kind: enumName(gatewayAuthV1.PrincipalKind, 'PRINCIPAL_KIND_', u.kind),
    roles: u.roles.map(roleName),
    experimentPermissions: u.experimentPermissions.map((p) => ({
      ...p,
      permission: enumName(gatewayAuthV1.Permission, 'PERMISSION_', p.permission),
    })),
    registeredModelPermissions: u.registeredModelPermissions.map((p) => ({
      ...p,
      permission: enumName(gatewayAuthV1.Permission, 'PERMISSION_', p.permission),
    })),
  };
}

export function whoAmIView(w: gatewayAuthV1.WhoAmIResponse) {
  return { ...w, roles: w.roles.map(roleName), user: w.user && userView(w.user) };
}

/** An event with its `data` parsed (kept as text when it is not JSON). */
export function eventView(e: gatewayEventsV1.Event) {
  let data: unknown = e.dataJson;
  try {
    data = JSON.parse(e.dataJson);
  } catch {
    // Not JSON: the text is the most faithful thing to show.
  }
  const { dataJson: _dataJson, ...rest } = e;
  return { ...rest, data };
}

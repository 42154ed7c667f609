import { registryV1, trackingV1 } from '@cairn/proto';
import { ACCESS_RULES, actionOf, PROXIED_SERVICES } from './access-rules';

describe('access rules', () => {
  const methods = Object.values(PROXIED_SERVICES).flatMap((defs) =>
    defs.flatMap((def) => Object.values(def).map((m: { path: string }) => m.path)),
  );

  it('has an explicit rule for every re-exported RPC, and none for anything else', () => {
    const missing = methods.filter((path) => !ACCESS_RULES.get(path));
    expect(missing).toEqual([]);
    expect([...ACCESS_RULES.keys()].sort()).toEqual([...methods].sort());
    expect(new Set(methods).size).toBe(methods.length);
    expect(methods.length).toBeGreaterThanOrEqual(70);
  });

  it('names the resource each call touches', () => {
    const rule = (path: string) => ACCESS_RULES.get(path)!;
    expect(rule('/cairn.tracking.v1.RunService/LogBatch').resources!({ runId: 'r1' })).toEqual([
      { kind: 'run', runId: 'r1' },
    ]);
    expect(
      rule('/cairn.tracking.v1.RunService/SearchRuns').resources!(
        trackingV1.SearchRunsRequest.fromPartial({ experimentIds: ['1', '2'] }),
      ),
    ).toEqual([
      { kind: 'experiment', id: '1' },
      { kind: 'experiment', id: '2' },
    ]);
    expect(
      rule('/cairn.registry.v1.ModelRegistryService/CreateModelVersion').resources!(
        registryV1.CreateModelVersionRequest.fromPartial({ name: 'm', runId: 'r9' }),
      ),
    ).toEqual([
      { kind: 'registered_model', name: 'm' },
      { kind: 'run', runId: 'r9', action: 'read' },
    ]);
    expect(
      rule('/cairn.tracking.v1.ArtifactService/UploadArtifact').resources!(
        trackingV1.UploadArtifactRequest.fromPartial({
          part: { $case: 'header', value: { runId: 'r2', path: 'a.txt' } },
        }),
      ),
    ).toEqual([{ kind: 'run', runId: 'r2' }]);
  });

  it('keeps approvals for approvers and the whole audit trail for operators', () => {
    const approve = ACCESS_RULES.get('/cairn.registry.v1.GovernanceService/ApproveTransition')!;
    expect(actionOf(approve, { requestId: 'x' })).toBe('approve');
    const audit = ACCESS_RULES.get('/cairn.registry.v1.AuditService/ListAuditEntries')!;
    expect(actionOf(audit, registryV1.ListAuditEntriesRequest.fromPartial({}))).toBe('operate');
    expect(actionOf(audit, registryV1.ListAuditEntriesRequest.fromPartial({ model: 'm' }))).toBe('read');
    expect(audit.resources!(registryV1.ListAuditEntriesRequest.fromPartial({ model: 'm' }))).toEqual([
      { kind: 'registered_model', name: 'm' },
    ]);
  });

  it('grants the creator MANAGE on what it creates', () => {
    const create = ACCESS_RULES.get('/cairn.tracking.v1.ExperimentService/CreateExperiment')!;
    expect(create.grantsCreator!({ experimentId: '42' })).toEqual({ kind: 'experiment', id: '42' });
  });
});

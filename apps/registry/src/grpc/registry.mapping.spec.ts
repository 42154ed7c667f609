import type { Stage } from '@cairn/contracts';
import { registryV1 as pb } from '@cairn/proto';
import { AppError } from '@cairn/rpc';
import type { Target } from '../governance/model-policy';
import { positionFromProto, positionToProto, stageFromProto, stageToProto } from './registry.mapping';

function failure(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('nothing was thrown');
}

describe('registry mapping', () => {
  it('maps every stage both ways', () => {
    const stages: Stage[] = ['None', 'Staging', 'Production', 'Archived'];
    for (const stage of stages) expect(stageFromProto(stageToProto(stage))).toBe(stage);
    expect(new Set(stages.map(stageToProto)).size).toBe(stages.length);
  });

  it('refuses an unspecified stage as missing and an unknown one as invalid, naming the field', () => {
    expect(failure(() => stageFromProto(pb.Stage.STAGE_UNSPECIFIED, 'stages[1]'))).toMatchObject({
      kind: 'invalid_argument',
      reason: 'MISSING_PARAMETER',
      message: "Missing value for required parameter 'stages[1]'.",
    });
    expect(failure(() => stageFromProto(9 as pb.Stage))).toMatchObject({
      kind: 'invalid_argument',
      reason: 'INVALID_PARAMETER_VALUE',
      details: { field: 'stage', value: '9' },
    });
    expect(failure(() => stageFromProto(pb.Stage.UNRECOGNIZED))).toMatchObject({
      reason: 'INVALID_PARAMETER_VALUE',
    });
  });

  it('maps positions both ways and checks them', () => {
    const targets: Target[] = [
      { kind: 'stage', stage: 'Production' },
      { kind: 'alias', alias: 'champion' },
    ];
    for (const t of targets) expect(positionFromProto(positionToProto(t))).toEqual(t);
    expect(failure(() => positionFromProto(undefined))).toMatchObject({ reason: 'MISSING_PARAMETER' });
    expect(failure(() => positionFromProto({}, 'from'))).toMatchObject({
      reason: 'MISSING_PARAMETER',
      message: "Missing value for required parameter 'from'.",
    });
    expect(
      failure(() => positionFromProto({ target: { $case: 'stage', value: pb.Stage.STAGE_UNSPECIFIED } })),
    ).toMatchObject({
      reason: 'MISSING_PARAMETER',
      message: "Missing value for required parameter 'to.stage'.",
    });
    expect(failure(() => positionFromProto({ target: { $case: 'alias', value: 'latest' } }))).toMatchObject({
      reason: 'INVALID_PARAMETER_VALUE',
    });
  });
});

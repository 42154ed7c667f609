import { Inject, Injectable } from '@nestjs/common';
import { trackingV1 } from '@cairn/proto';
import { GrpcService } from '@cairn/rpc';
import { lifecycleStageToProto, viewTypeFromProto } from '../tracking.mapping';
import type { ExperimentRecord } from './experiments.repository';
import { ExperimentsService } from './experiments.service';

type Req<K extends keyof typeof trackingV1.ExperimentServiceService> =
  (typeof trackingV1.ExperimentServiceService)[K]['requestDeserialize'] extends (b: Buffer) => infer R
    ? R
    : never;

function toProto(e: ExperimentRecord): trackingV1.Experiment {
  return {
    experimentId: e.experimentId,
    name: e.name,
    artifactLocation: e.artifactLocation,
    lifecycleStage: lifecycleStageToProto(e.lifecycleStage),
    creationTime: e.creationTime,
    lastUpdateTime: e.lastUpdateTime,
    tags: e.tags,
  };
}

/** cairn.tracking.v1.ExperimentService. */
@Injectable()
@GrpcService(trackingV1.ExperimentServiceService)
export class ExperimentsGrpc {
  constructor(@Inject(ExperimentsService) private readonly experiments: ExperimentsService) {}

  async createExperiment(req: Req<'createExperiment'>): Promise<trackingV1.CreateExperimentResponse> {
    return { experimentId: await this.experiments.create(req.name, req.artifactLocation, req.tags) };
  }

  async getExperiment(req: Req<'getExperiment'>): Promise<trackingV1.GetExperimentResponse> {
    return { experiment: toProto(await this.experiments.get(req.experimentId)) };
  }

  async getExperimentByName(
    req: Req<'getExperimentByName'>,
  ): Promise<trackingV1.GetExperimentByNameResponse> {
    return { experiment: toProto(await this.experiments.getByName(req.experimentName)) };
  }

  async searchExperiments(req: Req<'searchExperiments'>): Promise<trackingV1.SearchExperimentsResponse> {
    const r = await this.experiments.search({
      filter: req.filter,
      orderBy: req.orderBy,
      viewType: viewTypeFromProto(req.viewType),
      maxResults: req.maxResults,
      pageToken: req.pageToken,
    });
    return { experiments: r.experiments.map(toProto), nextPageToken: r.nextPageToken };
  }

  async updateExperiment(req: Req<'updateExperiment'>): Promise<trackingV1.UpdateExperimentResponse> {
    await this.experiments.rename(req.experimentId, req.newName);
    return {};
  }

  async deleteExperiment(req: Req<'deleteExperiment'>): Promise<trackingV1.DeleteExperimentResponse> {
    await this.experiments.delete(req.experimentId);
    return {};
  }

  async restoreExperiment(req: Req<'restoreExperiment'>): Promise<trackingV1.RestoreExperimentResponse> {
    await this.experiments.restore(req.experimentId);
    return {};
  }

  async setExperimentTag(req: Req<'setExperimentTag'>): Promise<trackingV1.SetExperimentTagResponse> {
    await this.experiments.setTag(req.experimentId, req.key, req.value);
    return {};
  }

  async deleteExperimentTag(
    req: Req<'deleteExperimentTag'>,
  ): Promise<trackingV1.DeleteExperimentTagResponse> {
    await this.experiments.deleteTag(req.experimentId, req.key);
    return {};
  }
}

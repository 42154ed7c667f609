import { Inject, Injectable } from '@nestjs/common';
import type { ServerReadableStream } from '@grpc/grpc-js';
import { trackingV1 } from '@cairn/proto';
import { AppError, type CallContext, GrpcService } from '@cairn/rpc';
import {
  lifecycleStageToProto,
  runStatusFromProto,
  runStatusToProto,
  viewTypeFromProto,
} from '../tracking.mapping';
import type { MetricRecord, RunInfoRecord, RunRecord } from './runs.repository';
import { RunsService } from './runs.service';

type Req<K extends keyof typeof trackingV1.RunServiceService> =
  (typeof trackingV1.RunServiceService)[K]['requestDeserialize'] extends (b: Buffer) => infer R ? R : never;

export function runInfoToProto(i: RunInfoRecord): trackingV1.RunInfo {
  return {
    runId: i.runId,
    runName: i.runName,
    experimentId: i.experimentId,
    userId: i.userId,
    status: runStatusToProto(i.status),
    startTime: i.startTime,
    ...(i.endTime === null ? {} : { endTime: i.endTime }),
    artifactUri: i.artifactUri,
    lifecycleStage: lifecycleStageToProto(i.lifecycleStage),
  };
}

export function runToProto(r: RunRecord): trackingV1.Run {
  return {
    info: runInfoToProto(r.info),
    data: { metrics: r.metrics, params: r.params, tags: r.tags },
    inputs: { datasetInputs: r.inputs },
  };
}

function metricFromProto(m: trackingV1.Metric | undefined, field: string): MetricRecord {
  if (!m)
    throw new AppError(
      'invalid_argument',
      'MISSING_PARAMETER',
      `Missing value for required parameter '${field}'.`,
    );
  return { key: m.key, value: m.value, timestamp: m.timestamp, step: m.step };
}

/** cairn.tracking.v1.RunService. */
@Injectable()
@GrpcService(trackingV1.RunServiceService)
export class RunsGrpc {
  constructor(@Inject(RunsService) private readonly runs: RunsService) {}

  async createRun(req: Req<'createRun'>): Promise<trackingV1.CreateRunResponse> {
    const run = await this.runs.create({
      experimentId: req.experimentId,
      userId: req.userId,
      startTime: req.startTime,
      tags: req.tags,
      runName: req.runName,
    });
    return { run: runToProto(run) };
  }

  async getRun(req: Req<'getRun'>): Promise<trackingV1.GetRunResponse> {
    return { run: runToProto(await this.runs.get(req.runId)) };
  }

  async updateRun(req: Req<'updateRun'>): Promise<trackingV1.UpdateRunResponse> {
    const info = await this.runs.update(req.runId, runStatusFromProto(req.status), req.endTime, req.runName);
    return { runInfo: runInfoToProto(info) };
  }

  async deleteRun(req: Req<'deleteRun'>): Promise<trackingV1.DeleteRunResponse> {
    await this.runs.delete(req.runId);
    return {};
  }

  async restoreRun(req: Req<'restoreRun'>): Promise<trackingV1.RestoreRunResponse> {
    await this.runs.restore(req.runId);
    return {};
  }

  async logMetric(req: Req<'logMetric'>): Promise<trackingV1.LogMetricResponse> {
    await this.runs.logMetric(req.runId, metricFromProto(req.metric, 'metric'));
    return {};
  }

  async logParam(req: Req<'logParam'>): Promise<trackingV1.LogParamResponse> {
    await this.runs.logParam(req.runId, req.key, req.value);
    return {};
  }

  async setTag(req: Req<'setTag'>): Promise<trackingV1.SetTagResponse> {
    await this.runs.setTag(req.runId, req.key, req.value);
    return {};
  }

  async deleteTag(req: Req<'deleteTag'>): Promise<trackingV1.DeleteTagResponse> {
    await this.runs.deleteTag(req.runId, req.key);
    return {};
  }

  async logBatch(req: Req<'logBatch'>): Promise<trackingV1.LogBatchResponse> {
    await this.runs.logBatch(req.runId, req.metrics, req.params, req.tags);
    return {};
  }

  async logInputs(req: Req<'logInputs'>): Promise<trackingV1.LogInputsResponse> {
    await this.runs.logInputs(req.runId, req.datasets);
    return {};
  }

  async searchRuns(req: Req<'searchRuns'>): Promise<trackingV1.SearchRunsResponse> {
    const r = await this.runs.search({
      experimentIds: req.experimentIds,
      filter: req.filter,
      viewType: viewTypeFromProto(req.runViewType),
      maxResults: req.maxResults,
      orderBy: req.orderBy,
      pageToken: req.pageToken,
    });
    return { runs: r.runs.map(runToProto), nextPageToken: r.nextPageToken };
  }

  async getMetricHistory(req: Req<'getMetricHistory'>): Promise<trackingV1.GetMetricHistoryResponse> {
    const page = await this.runs.metricHistory(req.runId, req.metricKey, req.maxResults, req.pageToken);
    const { key, values, timestamps, steps, nextPageToken } = page;
    if (req.columnar) return { metrics: [], nextPageToken, series: { key, values, timestamps, steps } };
    const metrics = new Array<trackingV1.Metric>(values.length);
    for (let i = 0; i < values.length; i++) {
      metrics[i] = { key, value: values[i], timestamp: timestamps[i], step: steps[i] };
    }
    return { metrics, nextPageToken };
  }

  async streamMetrics(
    call: ServerReadableStream<trackingV1.StreamMetricsRequest, trackingV1.StreamMetricsResponse>,
    ctx: CallContext,
  ): Promise<trackingV1.StreamMetricsResponse> {
    const messages = call as AsyncIterable<trackingV1.StreamMetricsRequest>;
    return { pointsLogged: await this.runs.ingestStream(messages, ctx.signal) };
  }
}

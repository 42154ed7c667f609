import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { registryV1 as pb } from '@cairn/proto';
import { type CallContext, GrpcService } from '@cairn/rpc';
import { principalOf } from '../identity/caller';
import { ModelsService } from '../models/models.service';
import { RegistrationService } from '../models/registration.service';
import { ModelSearch } from '../search/model-search';
import {
  lineageToProto,
  modelVersionToProto,
  registeredModelToProto,
  signatureFromProto,
  stageFromProto,
  tagsFromProto,
} from './registry.mapping';

type Req<K extends keyof typeof pb.ModelRegistryServiceService> =
  (typeof pb.ModelRegistryServiceService)[K]['requestDeserialize'] extends (b: Buffer) => infer R ? R : never;

/**
 * cairn.registry.v1.ModelRegistryService: MLflow's model registry. Every mutation is made by
 * the call's principal (from the gateway's identity token), which the audit log records; reads
 * need none.
 * Field validation lives with the services (MLflow's rules and messages); enums are checked
 * by the mapping.
 */
@Injectable()
@GrpcService(pb.ModelRegistryServiceService)
export class ModelRegistryGrpc {
  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(ModelsService) private readonly models: ModelsService,
    @Inject(RegistrationService) private readonly registration: RegistrationService,
    @Inject(ModelSearch) private readonly search: ModelSearch,
  ) {}

  async createRegisteredModel(
    req: Req<'createRegisteredModel'>,
    ctx: CallContext,
  ): Promise<pb.CreateRegisteredModelResponse> {
    const actor = principalOf(ctx);
    const model = await this.models.createModel(actor, req.name, tagsFromProto(req.tags), req.description);
    return { registeredModel: registeredModelToProto(model) };
  }

  async getRegisteredModel(req: Req<'getRegisteredModel'>): Promise<pb.GetRegisteredModelResponse> {
    return { registeredModel: registeredModelToProto(await this.models.getModel(req.name, this.ds.manager)) };
  }

  async renameRegisteredModel(
    req: Req<'renameRegisteredModel'>,
    ctx: CallContext,
  ): Promise<pb.RenameRegisteredModelResponse> {
    const actor = principalOf(ctx);
    const model = await this.models.renameModel(actor, req.name, req.newName);
    return { registeredModel: registeredModelToProto(model) };
  }

  async updateRegisteredModel(
    req: Req<'updateRegisteredModel'>,
    ctx: CallContext,
  ): Promise<pb.UpdateRegisteredModelResponse> {
    const actor = principalOf(ctx);
    const model = await this.models.updateModel(actor, req.name, req.description);
    return { registeredModel: registeredModelToProto(model) };
  }

  async deleteRegisteredModel(
    req: Req<'deleteRegisteredModel'>,
    ctx: CallContext,
  ): Promise<pb.DeleteRegisteredModelResponse> {
    await this.models.deleteModel(principalOf(ctx), req.name);
    return {};
  }

  async searchRegisteredModels(
    req: Req<'searchRegisteredModels'>,
  ): Promise<pb.SearchRegisteredModelsResponse> {
    const page = await this.search.searchModels(this.ds.manager, {
      filter: req.filter,
      maxResults: req.maxResults,
      orderBy: req.orderBy,
      pageToken: req.pageToken,
    });
    return { registeredModels: page.models.map(registeredModelToProto), nextPageToken: page.nextPageToken };
  }

  async getLatestVersions(req: Req<'getLatestVersions'>): Promise<pb.GetLatestVersionsResponse> {
    const stages = req.stages.map((s, i) => stageFromProto(s, `stages[${i}]`));
    const versions = await this.models.latestVersions(this.ds.manager, req.name, stages);
    return { modelVersions: versions.map(modelVersionToProto) };
  }

  async setRegisteredModelTag(
    req: Req<'setRegisteredModelTag'>,
    ctx: CallContext,
  ): Promise<pb.SetRegisteredModelTagResponse> {
    await this.models.setModelTag(principalOf(ctx), req.name, req.key, req.value);
    return {};
  }

  async deleteRegisteredModelTag(
    req: Req<'deleteRegisteredModelTag'>,
    ctx: CallContext,
  ): Promise<pb.DeleteRegisteredModelTagResponse> {
    await this.models.deleteModelTag(principalOf(ctx), req.name, req.key);
    return {};
  }

  async setRegisteredModelAlias(
    req: Req<'setRegisteredModelAlias'>,
    ctx: CallContext,
  ): Promise<pb.SetRegisteredModelAliasResponse> {
    await this.models.setAlias(principalOf(ctx), req.name, req.alias, req.version);
    return {};
  }

  async deleteRegisteredModelAlias(
    req: Req<'deleteRegisteredModelAlias'>,
    ctx: CallContext,
  ): Promise<pb.DeleteRegisteredModelAliasResponse> {
    await this.models.deleteAlias(principalOf(ctx), req.name, req.alias);
    return {};
  }

  async getModelVersionByAlias(
    req: Req<'getModelVersionByAlias'>,
  ): Promise<pb.GetModelVersionByAliasResponse> {
    const version = await this.models.getVersionByAlias(this.ds.manager, req.name, req.alias);
    return { modelVersion: modelVersionToProto(version) };
  }

  async createModelVersion(
    req: Req<'createModelVersion'>,
    ctx: CallContext,
  ): Promise<pb.CreateModelVersionResponse> {
    const actor = principalOf(ctx);
    const version = await this.registration.create(actor, {
      name: req.name,
      source: req.source,
      runId: req.runId,
      tags: tagsFromProto(req.tags),
      runLink: req.runLink,
      description: req.description,
      signature: signatureFromProto(req.signature),
    });
    return { modelVersion: modelVersionToProto(version) };
  }

  async getModelVersion(req: Req<'getModelVersion'>): Promise<pb.GetModelVersionResponse> {
    const version = await this.models.getVersion(this.ds.manager, req.name, req.version);
    return { modelVersion: modelVersionToProto(version) };
  }

  async updateModelVersion(
    req: Req<'updateModelVersion'>,
    ctx: CallContext,
  ): Promise<pb.UpdateModelVersionResponse> {
    const actor = principalOf(ctx);
    const version = await this.models.updateVersion(actor, req.name, req.version, req.description);
    return { modelVersion: modelVersionToProto(version) };
  }

  async deleteModelVersion(
    req: Req<'deleteModelVersion'>,
    ctx: CallContext,
  ): Promise<pb.DeleteModelVersionResponse> {
    await this.models.deleteVersion(principalOf(ctx), req.name, req.version);
    return {};
  }

  async searchModelVersions(req: Req<'searchModelVersions'>): Promise<pb.SearchModelVersionsResponse> {
    const page = await this.search.searchVersions(this.ds.manager, {
      filter: req.filter,
      maxResults: req.maxResults,
      orderBy: req.orderBy,
      pageToken: req.pageToken,
    });
    return { modelVersions: page.versions.map(modelVersionToProto), nextPageToken: page.nextPageToken };
  }

  async getModelVersionDownloadUri(
    req: Req<'getModelVersionDownloadUri'>,
  ): Promise<pb.GetModelVersionDownloadUriResponse> {
    // The resolved store location, not the source as given: a runs:/ source is where the
    // client found the model, the storage URI is where its files are.
    const version = await this.models.getVersion(this.ds.manager, req.name, req.version);
    return { artifactUri: version.storageUri };
  }

  async setModelVersionTag(
    req: Req<'setModelVersionTag'>,
    ctx: CallContext,
  ): Promise<pb.SetModelVersionTagResponse> {
    await this.models.setVersionTag(principalOf(ctx), req.name, req.version, req.key, req.value);
    return {};
  }

  async deleteModelVersionTag(
    req: Req<'deleteModelVersionTag'>,
    ctx: CallContext,
  ): Promise<pb.DeleteModelVersionTagResponse> {
    await this.models.deleteVersionTag(principalOf(ctx), req.name, req.version, req.key);
    return {};
  }

  async transitionModelVersionStage(
    req: Req<'transitionModelVersionStage'>,
    ctx: CallContext,
  ): Promise<pb.TransitionModelVersionStageResponse> {
    const actor = principalOf(ctx);
    const version = await this.models.transitionStage(
      actor,
      req.name,
      req.version,
      stageFromProto(req.stage),
      req.archiveExistingVersions,
      req.comment,
    );
    return { modelVersion: modelVersionToProto(version) };
  }

  async getModelVersionLineage(
    req: Req<'getModelVersionLineage'>,
  ): Promise<pb.GetModelVersionLineageResponse> {
    return lineageToProto(await this.models.lineage(this.ds.manager, req.name, req.version));
  }
}

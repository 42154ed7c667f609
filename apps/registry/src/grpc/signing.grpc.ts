import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { registryV1 as pb } from '@cairn/proto';
import { type CallContext, GrpcService } from '@cairn/rpc';
import { principalOf } from '../identity/caller';
import { ModelsService } from '../models/models.service';
import { ModelSignatures, versionNotReady } from '../signing/model-signatures.service';
import { VersionVerifier } from '../signing/version-verifier';
import { modelVersionToProto, signatureFromProto } from './registry.mapping';

type Req<K extends keyof typeof pb.SigningServiceService> =
  (typeof pb.SigningServiceService)[K]['requestDeserialize'] extends (b: Buffer) => infer R ? R : never;

/**
 * cairn.registry.v1.SigningService. What is signed is the UTF-8 bytes of the manifest digest
 * string `sha256:<hex>` (signing/signing-keyring.ts); verification recomputes the manifest from
 * the artifact store and names the first file that changed.
 */
@Injectable()
@GrpcService(pb.SigningServiceService)
export class SigningGrpc {
  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(ModelsService) private readonly models: ModelsService,
    @Inject(ModelSignatures) private readonly signatures: ModelSignatures,
    @Inject(VersionVerifier) private readonly verifier: VersionVerifier,
  ) {}

  async setModelVersionSignature(
    req: Req<'setModelVersionSignature'>,
    ctx: CallContext,
  ): Promise<pb.SetModelVersionSignatureResponse> {
    const actor = principalOf(ctx);
    const version = await this.signatures.setSignature(
      actor,
      req.name,
      req.version,
      signatureFromProto(req.signature),
    );
    return { modelVersion: modelVersionToProto(version) };
  }

  async verifyModelVersion(
    req: Req<'verifyModelVersion'>,
    ctx: CallContext,
  ): Promise<pb.VerifyModelVersionResponse> {
    const version = await this.models.getVersion(this.ds.manager, req.name, req.version);
    // Hashing a large model takes a while: a cancelled call stops reading the store.
    const result = await this.verifier.verify(this.ds.manager, version, ctx.signal);
    if (result.ok) {
      return {
        valid: true,
        reason: '',
        message: `Signed by key ${JSON.stringify(result.keyId)}; the artifact matches its manifest.`,
        recordedDigest: version.artifactDigest ?? '',
        computedDigest: result.manifest.digest,
      };
    }
    return {
      valid: false,
      reason: result.reason,
      message: result.message,
      recordedDigest: version.artifactDigest ?? '',
      computedDigest: 'manifest' in result && result.manifest ? result.manifest.digest : '',
    };
  }

  async getModelVersionManifest(
    req: Req<'getModelVersionManifest'>,
  ): Promise<pb.GetModelVersionManifestResponse> {
    const version = await this.models.getVersion(this.ds.manager, req.name, req.version);
    const manifest = await this.verifier.recordedManifest(this.ds.manager, version);
    if (!manifest) throw versionNotReady(version);
    return {
      digest: manifest.digest,
      files: manifest.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
    };
  }
}

import { Module } from '@nestjs/common';
import { ExperimentsGrpc } from './experiments.grpc';
import { ExperimentsService } from './experiments.service';

@Module({ providers: [ExperimentsService, ExperimentsGrpc], exports: [ExperimentsService] })
export class ExperimentsModule {}

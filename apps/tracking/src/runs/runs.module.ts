import { Module } from '@nestjs/common';
import { RunsGrpc } from './runs.grpc';
import { RunsService } from './runs.service';

@Module({ providers: [RunsService, RunsGrpc], exports: [RunsService] })
export class RunsModule {}

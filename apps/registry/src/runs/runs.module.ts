import { Module } from '@nestjs/common';
import { RunFinishedConsumer } from './run-finished.consumer';

/**
 * The run projection's consumer (RunProjection itself is provided by RegistryCoreModule, since
 * registration and lineage read it). Needs the registry's messaging.
 */
@Module({ providers: [RunFinishedConsumer] })
export class RunsModule {}

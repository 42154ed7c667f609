import { SetMetadata } from '@nestjs/common';
import type { ServiceDefinition } from '@grpc/grpc-js';

export const GRPC_SERVICE_METADATA = 'cairn:grpc-service';

/**
 * Marks a Nest provider as the implementation of a generated gRPC service definition.
 * The provider's methods are named like the definition's keys (ts-proto's lowerCamelCase).
 * Unary methods are `async (request, ctx) => response`; streaming methods receive the call.
 */
export const GrpcService = (definition: ServiceDefinition) => SetMetadata(GRPC_SERVICE_METADATA, definition);

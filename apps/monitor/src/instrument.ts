// Loaded before anything else so OpenTelemetry can patch http, grpc and pg as they load.
import { startTracing } from '@cairn/telemetry';

startTracing('monitor');

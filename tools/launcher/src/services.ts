import { DEFAULT_PORTS, SERVICE_NAMES, type ServiceName } from '@cairn/config';

export interface ServiceSpec {
  name: ServiceName;
  entry: string;
  grpcPort: string;
  httpPort: string;
}

/**
 * The five services in start order, with the ports they will bind. A port variable set in
 * the environment wins; the service validates it (and names it if it is wrong).
 */
export function serviceSpecs(env: NodeJS.ProcessEnv, distRoot: string): ServiceSpec[] {
  return SERVICE_NAMES.map((name) => {
    const prefix = `CAIRN_${name.toUpperCase()}`;
    return {
      name,
      entry: `${distRoot}/apps/${name}/src/main.js`,
      grpcPort: env[`${prefix}_GRPC_PORT`] || String(DEFAULT_PORTS[name].grpc),
      httpPort: env[`${prefix}_HTTP_PORT`] || String(DEFAULT_PORTS[name].http),
    };
  });
}

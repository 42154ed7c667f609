import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { CairnError } from './cairn-error';
import { parseGatewayAddress, readMethodsOf, retryServiceConfig } from './channel';
import { authorizationHeader } from './credentials';
import { CairnClient, toArtifactPath } from './cairn-client';
import { gatewayAuthV1, registryV1, trackingV1 } from '@cairn/proto';

function serviceError(code: status, details: string, reason?: string): ServiceError {
  const metadata = new Metadata();
  if (reason) metadata.set('cairn-reason', reason);
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata });
}

describe('credentials', () => {
  it('sends API keys and tokens as Bearer, a username and password as HTTP Basic', () => {
    expect(authorizationHeader({ apiKey: 'cairn_k_s' })).toBe('Bearer cairn_k_s');
    expect(authorizationHeader({ token: 'eyJ' })).toBe('Bearer eyJ');
    const basic = authorizationHeader({ username: 'alice', password: 'p:w' });
    expect(basic).toBe(`Basic ${Buffer.from('alice:p:w').toString('base64')}`);
  });
});

describe('CairnError', () => {
  it('carries the status and the cairn-reason trailer', () => {
    const err = CairnError.from(serviceError(status.NOT_FOUND, 'no run r1', 'RUN_NOT_FOUND'));
    expect(err).toMatchObject({ code: status.NOT_FOUND, reason: 'RUN_NOT_FOUND', details: 'no run r1' });
    expect(err.statusName).toBe('NOT_FOUND');
    expect(err.message).toBe('RUN_NOT_FOUND: no run r1');
  });

  it('falls back to the status name when the service gave no reason', () => {
    const err = CairnError.from(serviceError(status.UNAVAILABLE, 'connection refused'));
    expect(err.reason).toBe('UNAVAILABLE');
  });

  it('wraps a non-gRPC error as UNKNOWN and keeps a CairnError as it is', () => {
    expect(CairnError.from(new Error('boom'))).toMatchObject({ code: status.UNKNOWN, details: 'boom' });
    const original = new CairnError(status.ABORTED, 'X', 'y');
    expect(CairnError.from(original)).toBe(original);
  });
});

describe('parseGatewayAddress', () => {
  it.each([
    ['127.0.0.1:50051', { target: '127.0.0.1:50051', tls: false }],
    ['https://cairn.example.com', { target: 'cairn.example.com:443', tls: true }],
    ['grpcs://cairn.example.com:8443/', { target: 'cairn.example.com:8443', tls: true }],
    ['http://localhost', { target: 'localhost:80', tls: false }],
  ])('%s', (address, expected) => {
    expect(parseGatewayAddress(address)).toEqual(expected);
  });

  it('refuses an empty address and unknown schemes', () => {
    expect(() => parseGatewayAddress(' ')).toThrow(/empty/);
    expect(() => parseGatewayAddress('ftp://x')).toThrow(/unsupported scheme/);
  });
});

describe('retries', () => {
  it('retries only idempotent reads, on UNAVAILABLE', () => {
    const methods = readMethodsOf([
      trackingV1.RunServiceService,
      trackingV1.ArtifactServiceService,
      gatewayAuthV1.AuthServiceService,
    ]);
    const names = methods.map((m) => `${m.service}/${m.method}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'cairn.tracking.v1.RunService/GetRun',
        'cairn.tracking.v1.RunService/SearchRuns',
        'cairn.tracking.v1.ArtifactService/DownloadArtifact',
        'cairn.gateway.v1.AuthService/WhoAmI',
      ]),
    );
    for (const write of ['CreateRun', 'LogBatch', 'StreamMetrics', 'UploadArtifact', 'CreateApiKey']) {
      expect(names.some((n) => n.endsWith(`/${write}`))).toBe(false);
    }
    const config = JSON.parse(retryServiceConfig(methods)) as {
      methodConfig: Array<{ retryPolicy: { retryableStatusCodes: string[]; maxAttempts: number } }>;
    };
    expect(config.methodConfig[0].retryPolicy).toMatchObject({
      retryableStatusCodes: ['UNAVAILABLE'],
      maxAttempts: 4,
    });
  });
});

describe('CairnClient', () => {
  it('exposes every unary method of every public service (grpc-js accepts its retry config)', () => {
    const client = new CairnClient({ address: '127.0.0.1:1', credentials: { apiKey: 'k' } });
    try {
      expect(typeof client.runs.getRun).toBe('function');
      expect(typeof client.governance.approveTransition).toBe('function');
      expect(typeof client.auth.createUser).toBe('function');
      expect(typeof client.webhooks.createWebhook).toBe('function');
      for (const name of Object.keys(registryV1.SigningServiceService)) {
        expect(typeof (client.signing as Record<string, unknown>)[name]).toBe('function');
      }
      // Streaming methods are not unary methods: they have helpers of their own.
      expect((client.runs as Record<string, unknown>).streamMetrics).toBeUndefined();
    } finally {
      client.close();
    }
  });

  it('turns a call that fails into a CairnError with the status name as reason', async () => {
    const client = new CairnClient({ address: '127.0.0.1:1', maxAttempts: 1 });
    try {
      await expect(client.whoAmI({ timeoutMs: 2_000 })).rejects.toMatchObject({
        name: 'CairnError',
        reason: expect.stringMatching(/UNAVAILABLE|DEADLINE_EXCEEDED/),
      });
    } finally {
      client.close();
    }
  });
});

describe('toArtifactPath', () => {
  it('uses forward slashes without leading or trailing ones', () => {
    expect(toArtifactPath('/model/')).toBe('model');
    expect(toArtifactPath('a/b.txt')).toBe('a/b.txt');
    expect(toArtifactPath('')).toBe('');
  });
});

import type { LookupAddress, lookup as dnsLookup } from 'node:dns';
import { AppError } from '@cairn/rpc';
import { parseCidrList } from './webhook.settings';
import { checkUrl, checkUrlStatically, classifyAddress, guardedLookup } from './url-guard';

const reasonOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return err instanceof AppError ? err.reason : 'not an AppError';
  }
  return 'allowed';
};

describe('webhook URL guard', () => {
  it.each([
    ['http://127.0.0.1/hook', 'loopback'],
    ['http://127.1/hook', 'loopback'],
    ['http://0x7f.1/hook', 'loopback'],
    ['http://0177.0.0.1/hook', 'loopback'],
    ['http://2130706433/hook', 'loopback'],
    ['http://[::1]/hook', 'loopback'],
    ['http://[::ffff:127.0.0.1]/hook', 'loopback'],
    ['http://[::ffff:7f00:1]/hook', 'loopback'],
    ['http://10.0.0.5/hook', 'private'],
    ['http://172.16.4.4/hook', 'private'],
    ['http://172.31.255.255/hook', 'private'],
    ['http://192.168.1.20/hook', 'private'],
    ['http://[::ffff:192.168.1.20]/hook', 'private'],
    ['http://169.254.169.254/latest/meta-data/', 'link-local'],
    ['http://[::ffff:169.254.169.254]/', 'link-local'],
    ['http://[fd00::1]/hook', 'unique-local'],
    ['http://[fe80::1]/hook', 'link-local'],
    ['http://100.64.0.1/hook', 'carrier-grade NAT'],
    ['http://0.0.0.0/hook', 'unspecified'],
    ['http://[::]/hook', 'unspecified'],
    ['http://224.0.0.1/hook', 'multicast'],
    ['http://[ff02::1]/hook', 'multicast'],
    ['http://255.255.255.255/hook', 'broadcast'],
    ['http://[64:ff9b::a9fe:a9fe]/hook', 'rfc6052'],
    ['http://[2002:7f00:1::1]/hook', '6to4'],
    ['http://localhost:8080/hook', 'loopback name'],
    ['http://LOCALHOST./hook', 'loopback name'],
    ['http://api.localhost/hook', 'loopback name'],
    ['gopher://example.com:70/_x', "scheme 'gopher'"],
    ['file:///etc/passwd', "scheme 'file'"],
    ['ftp://example.com/x', "scheme 'ftp'"],
    ['http://user:pw@example.com/hook', 'credentials'],
    ['not a url', 'not an absolute URL'],
  ])('refuses %s (%s)', (url, why) => {
    let error: unknown;
    try {
      checkUrlStatically(url);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).reason).toBe('WEBHOOK_URL_FORBIDDEN');
    expect((error as AppError).kind).toBe('invalid_argument');
    expect((error as AppError).message).toContain(why);
    expect((error as AppError).details).toEqual({ url });
  });

  it.each([
    'https://hooks.example.com/mlflow',
    'http://93.184.216.34:8080/hook',
    'http://8.8.8.8/',
    'https://[2606:4700:4700::1111]/hook',
    'https://[::ffff:8.8.8.8]/hook',
  ])('allows the public destination %s', (url) => {
    expect(reasonOf(() => checkUrlStatically(url))).toBe('allowed');
  });

  it('allows an explicitly configured network, and only that one', () => {
    const allowed = parseCidrList('127.0.0.0/8, 10.1.0.0/16, fd00::/8')!;
    expect(classifyAddress('127.0.0.1', allowed)).toBeUndefined();
    expect(classifyAddress('::ffff:127.0.0.1', allowed)).toBeUndefined();
    expect(classifyAddress('10.1.2.3', allowed)).toBeUndefined();
    expect(classifyAddress('fd00::5', allowed)).toBeUndefined();
    expect(classifyAddress('10.2.0.1', allowed)).toMatch(/private/);
    expect(classifyAddress('169.254.169.254', allowed)).toMatch(/link-local/);
    expect(classifyAddress('::1', allowed)).toMatch(/loopback/);
    expect(reasonOf(() => checkUrlStatically('http://127.0.0.1:9/x', allowed))).toBe('allowed');
    // A name is still refused by name: allow the address, not `localhost`.
    expect(reasonOf(() => checkUrlStatically('http://localhost:9/x', allowed))).toBe('WEBHOOK_URL_FORBIDDEN');
  });

  it('rejects settings that are not CIDRs', () => {
    expect(parseCidrList('')).toEqual([]);
    expect(parseCidrList('10.0.0.0/33')).toBeUndefined();
    expect(parseCidrList('example.com')).toBeUndefined();
    expect(parseCidrList('192.168.0.1')).toHaveLength(1);
  });

  describe('names', () => {
    const resolver =
      (answers: Record<string, string[]>) =>
      async (host: string): Promise<LookupAddress[]> => {
        const a = answers[host];
        if (!a) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
        return a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
      };
    const dns = resolver({
      'public.test': ['93.184.216.34', '2606:2800:220:1::1'],
      'metadata.test': ['169.254.169.254'],
      'mixed.test': ['93.184.216.34', '10.0.0.1'],
    });

    it('accepts a name whose every address is public', async () => {
      await expect(checkUrl('https://public.test/hook', [], dns)).resolves.toMatchObject({
        host: 'public.test',
      });
    });

    it('refuses a name that resolves to a forbidden address, even one among public ones', async () => {
      await expect(checkUrl('http://metadata.test/', [], dns)).rejects.toMatchObject({
        reason: 'WEBHOOK_URL_FORBIDDEN',
        message: expect.stringContaining('169.254.169.254'),
      });
      await expect(checkUrl('http://mixed.test/', [], dns)).rejects.toMatchObject({
        reason: 'WEBHOOK_URL_FORBIDDEN',
        message: expect.stringContaining('10.0.0.1'),
      });
    });

    it('refuses a name that does not resolve', async () => {
      await expect(checkUrl('http://nowhere.test/', [], dns)).rejects.toMatchObject({
        reason: 'WEBHOOK_URL_UNRESOLVABLE',
      });
    });
  });

  describe('the connect-time lookup', () => {
    const lookup = (host: string, all: boolean, allowed = parseCidrList('')!, resolve?: typeof dnsLookup) =>
      new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((done) =>
        guardedLookup(allowed, resolve)(host, { all }, (err, address) => done({ err, address })),
      );

    it('refuses to connect when the name now resolves to a forbidden address (DNS rebinding)', async () => {
      // The name passed at create time; at connect time DNS answers with the metadata address.
      const rebound = ((_host: string, _opts: unknown, cb: (e: null, a: LookupAddress[]) => void) =>
        cb(null, [{ address: '169.254.169.254', family: 4 }])) as unknown as typeof dnsLookup;
      const r = await lookup('hooks.example.test', false, undefined, rebound);
      expect(r.err).toMatchObject({
        code: 'WEBHOOK_URL_FORBIDDEN',
        message: expect.stringContaining('169.254.169.254'),
      });
      expect((await lookup('localhost', true)).err).toMatchObject({ code: 'WEBHOOK_URL_FORBIDDEN' });
    });

    it('hands the socket the checked addresses, in the form Node asked for', async () => {
      // An IP literal resolves to itself without DNS, so this runs offline.
      const allowed = parseCidrList('127.0.0.0/8')!;
      expect((await lookup('127.0.0.1', true, allowed)).address).toEqual([
        { address: '127.0.0.1', family: 4 },
      ]);
      expect((await lookup('127.0.0.1', false, allowed)).address).toBe('127.0.0.1');
      expect((await lookup('127.0.0.1', false)).err).toMatchObject({ code: 'WEBHOOK_URL_FORBIDDEN' });
    });
  });
});

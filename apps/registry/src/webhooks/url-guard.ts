import dns from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { AppError } from '@cairn/rpc';

/*
 * The SSRF guard for webhook destinations (CVE-2026-2393: webhooks to 169.254.169.254,
 * loopback, private ranges, gopher://; CVE-2025-14279: DNS rebinding).
 *
 * - Only http and https.
 * - A destination address is allowed only when ipaddr.js classifies it as plain public
 *   `unicast` — loopback, RFC 1918, link-local (cloud metadata), CGNAT, unique-local,
 *   multicast, unspecified, broadcast, documentation/benchmarking and the IPv6 forms that embed
 *   an IPv4 address (6to4, NAT64, Teredo) are all something else — or when it lies in a network
 *   the operator allowed explicitly. IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is judged as the
 *   IPv4 address it carries.
 * - Numeric host tricks (`0x7f.1`, `2130706433`, `0177.0.0.1`) are normalized by the WHATWG URL
 *   parser before the check, so they are judged as the address they mean.
 * - `localhost` and `*.localhost` (RFC 6761) are refused by name whatever they resolve to.
 * - Names are resolved at create/update time (every address must pass) and again at delivery
 *   through `guardedLookup`, which the HTTP agent uses to connect: the address checked is the
 *   address connected to, so a DNS answer that changes in between cannot swap it.
 */

export const WEBHOOK_URL_FORBIDDEN = 'WEBHOOK_URL_FORBIDDEN';

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Why a destination is refused, or undefined when it is allowed. */
export function classifyAddress(address: string, allowed: readonly Cidr[] = []): string | undefined {
  if (!ipaddr.isValid(address)) return `'${address}' is not an IP address`;
  const raw = ipaddr.parse(address);
  // process() turns an IPv4-mapped IPv6 address into the IPv4 address it carries.
  const addr = ipaddr.process(address);
  if (allowed.some(([net, bits]) => inNetwork(addr, net, bits) || inNetwork(raw, net, bits)))
    return undefined;
  const range = addr.range();
  if (range === 'unicast') return undefined;
  return `${addr.toString()} is a ${RANGE_NAMES[range] ?? range} address`;
}

function inNetwork(
  addr: ipaddr.IPv4 | ipaddr.IPv6,
  network: ipaddr.IPv4 | ipaddr.IPv6,
  bits: number,
): boolean {
  return addr.kind() === network.kind() && addr.match(network, bits);
}

const RANGE_NAMES: Record<string, string> = {
  loopback: 'loopback',
  private: 'private (RFC 1918)',
  linkLocal: 'link-local',
  carrierGradeNat: 'carrier-grade NAT (RFC 6598)',
  uniqueLocal: 'unique-local',
  unspecified: 'unspecified',
  multicast: 'multicast',
  broadcast: 'broadcast',
  reserved: 'reserved',
};

const LOCALHOST = /(^|\.)localhost\.?$/i;

/** A parsed destination: the URL and its host, unbracketed. */
export interface Destination {
  url: URL;
  host: string;
  /** The host is an IP literal (no DNS involved). */
  literal: boolean;
}

/**
 * Checks what can be checked without DNS: scheme, host, IP literals and localhost names.
 * Throws WEBHOOK_URL_FORBIDDEN with why.
 */
export function checkUrlStatically(raw: string, allowed: readonly Cidr[] = []): Destination {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw forbidden(raw, 'it is not an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw forbidden(raw, `scheme '${url.protocol.slice(0, -1)}' is not allowed (only http and https)`);
  }
  if (url.username || url.password) throw forbidden(raw, 'credentials in the URL are not allowed');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw forbidden(raw, 'it has no host');
  if (net.isIP(host) !== 0) {
    const why = classifyAddress(host, allowed);
    if (why) throw forbidden(raw, why);
    return { url, host, literal: true };
  }
  if (LOCALHOST.test(host)) throw forbidden(raw, `'${host}' is a loopback name`);
  return { url, host, literal: false };
}

/** Resolves a host name; overridable in tests. */
export type Resolver = (host: string) => Promise<LookupAddress[]>;
export const systemResolver: Resolver = (host) => dns.promises.lookup(host, { all: true, verbatim: true });

/**
 * The full check of create/update: the static one, then every address the name resolves to
 * must be allowed (a name with one private address among public ones is refused).
 */
export async function checkUrl(
  raw: string,
  allowed: readonly Cidr[] = [],
  resolve = systemResolver,
): Promise<Destination> {
  const dest = checkUrlStatically(raw, allowed);
  if (dest.literal) return dest;
  let addresses: LookupAddress[];
  try {
    addresses = await resolve(dest.host);
  } catch (err) {
    throw new AppError(
      'invalid_argument',
      'WEBHOOK_URL_UNRESOLVABLE',
      `Webhook URL '${raw}' is not allowed: host '${dest.host}' does not resolve (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      { url: raw },
    );
  }
  for (const a of addresses) {
    const why = classifyAddress(a.address, allowed);
    if (why) throw forbidden(raw, `'${dest.host}' resolves to ${a.address}: ${why}`);
  }
  return dest;
}

export function forbidden(url: string, why: string): AppError {
  return new AppError(
    'invalid_argument',
    WEBHOOK_URL_FORBIDDEN,
    `Webhook URL '${url}' is not allowed: ${why}`,
    {
      url,
    },
  );
}

/** The error the guarded lookup fails a connection with. */
export class ForbiddenDestinationError extends Error {
  readonly code = WEBHOOK_URL_FORBIDDEN;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for http(s).Agent: resolves like dns.lookup, refuses the connection when any
 * address is forbidden, and hands the socket only checked addresses. Node calls it with
 * `all: true` when it races address families (autoSelectFamily), so both forms are answered.
 */
export function guardedLookup(allowed: readonly Cidr[], resolve: typeof dns.lookup = dns.lookup) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    if (LOCALHOST.test(hostname)) {
      callback(new ForbiddenDestinationError(`'${hostname}' is a loopback name`), []);
      return;
    }
    resolve(hostname, { ...options, all: true, verbatim: true }, (err, addresses) => {
      if (err) {
        callback(err, []);
        return;
      }
      for (const a of addresses) {
        const why = classifyAddress(a.address, allowed);
        if (why) {
          callback(new ForbiddenDestinationError(`'${hostname}' resolves to ${a.address}: ${why}`), []);
          return;
        }
      }
      if (addresses.length === 0) {
        callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      } else if (options.all) {
        callback(null, addresses);
      } else {
        callback(null, addresses[0].address, addresses[0].family);
      }
    });
  };
}

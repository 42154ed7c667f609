import path from 'node:path';
import {
  GENERATED_IDENTITY_KEY_FILE,
  IdentityIssuer,
  identitySigningKey,
  parseIdentityPublicKeys,
} from '@cairn/identity';

/** What the launcher adds to (or removes from) the gateway's and the other services' environments. */
export interface EmbeddedIdentity {
  gateway: NodeJS.ProcessEnv;
  services: NodeJS.ProcessEnv;
  /** The gateway's key id, and whether its key was generated here (for the banner). */
  keyId: string;
  keyFile: string | undefined;
  /** A problem worth telling the user about, without stopping. */
  warning?: string;
}

/**
 * The gateway's identity key in embedded mode: the user's CAIRN_IDENTITY_SIGNING_KEY when set,
 * else `<CAIRN_IDENTITY_KEY_DIR or $CAIRN_HOME/keys>/gateway-identity-ed25519.pem`, generated once
 * before any service starts (so every service can be told its public key). Only the gateway gets
 * the private key; every service gets CAIRN_IDENTITY_PUBLIC_KEYS (the user's value when set).
 * A bad key throws a ConfigError naming the setting.
 */
export function embeddedIdentity(env: NodeJS.ProcessEnv, home: string): EmbeddedIdentity {
  const configured = env.CAIRN_IDENTITY_SIGNING_KEY?.trim() ? env.CAIRN_IDENTITY_SIGNING_KEY : undefined;
  const dir = path.resolve(env.CAIRN_IDENTITY_KEY_DIR || path.join(home, 'keys'));
  const keyFile = configured ? undefined : path.join(dir, GENERATED_IDENTITY_KEY_FILE);
  const privateKey = identitySigningKey(
    configured ? { CAIRN_IDENTITY_SIGNING_KEY: configured } : { CAIRN_IDENTITY_KEY_DIR: dir },
    'launcher',
  );
  const issuer = new IdentityIssuer({ privateKey });
  const userKeys = env.CAIRN_IDENTITY_PUBLIC_KEYS?.trim() ? env.CAIRN_IDENTITY_PUBLIC_KEYS : undefined;
  const publicKeys = userKeys ?? issuer.publicKeysSetting();
  let warning: string | undefined;
  if (userKeys) {
    const { keys, issues } = parseIdentityPublicKeys(userKeys);
    // A malformed value is the services' to report (by name, at start-up); a valid one that
    // lacks the gateway's key would make every forwarded call fail later, so say so now.
    if (issues.length === 0 && !keys.has(issuer.keyId)) {
      warning = `CAIRN_IDENTITY_PUBLIC_KEYS does not list the gateway's key ${issuer.keyId}: the services will refuse its tokens`;
    }
  }
  return {
    gateway: {
      CAIRN_IDENTITY_SIGNING_KEY: configured ?? keyFile,
      CAIRN_IDENTITY_PUBLIC_KEYS: publicKeys,
    },
    // The private key stays with the gateway.
    services: {
      CAIRN_IDENTITY_SIGNING_KEY: undefined,
      CAIRN_IDENTITY_KEY_DIR: undefined,
      CAIRN_IDENTITY_PUBLIC_KEYS: publicKeys,
    },
    keyId: issuer.keyId,
    keyFile,
    warning,
  };
}

export * from './identity-token';
export * from './identity.settings';
export * from './identity-issuer';
export * from './identity-verifier';
export * from './identity-token.authenticator';
export * from './local-key';

/** The auth feature's validated settings (AuthConfig). */
export const AUTH_CONFIG = Symbol('AUTH_CONFIG');

import type { CallContext } from '@cairn/rpc';
import { AppError } from '@cairn/rpc';

/**
 * The principal acting on a call: the caller identity the service's authenticator established
 * from the gateway's signed identity token (metadata `cairn-identity`, see @cairn/identity).
 * Governance depends on it (requester ≠ approver, the audit actor), so a call without one is
 * refused rather than attributed to nobody.
 */
export function principalOf(ctx: CallContext): string {
  const principal = ctx.identity?.principal;
  if (!principal) {
    throw new AppError(
      'unauthenticated',
      'PRINCIPAL_REQUIRED',
      "The call carries no caller identity (the gateway's identity token, metadata 'cairn-identity').",
    );
  }
  return principal;
}

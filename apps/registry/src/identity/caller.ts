import type { CallContext } from '@cairn/rpc';
import { AppError } from '@cairn/rpc';

/** The metadata key carrying the acting principal. */
export const PRINCIPAL_METADATA_KEY = 'cairn-principal';

/**
 * The principal acting on a call. Governance depends on it (requester ≠ approver, the audit
 * actor), so a call without one is refused rather than attributed to nobody. Until the
 * gateway's signed identity token lands (issue 6) the registry trusts this metadata, which is
 * why its gRPC port is internal only; the token check will replace this one function.
 */
export function principalOf(ctx: CallContext): string {
  const [value] = ctx.metadata.get(PRINCIPAL_METADATA_KEY);
  const principal = typeof value === 'string' ? value.trim() : '';
  if (principal === '' || principal.length > 256) {
    throw new AppError(
      'unauthenticated',
      'PRINCIPAL_REQUIRED',
      `The call carries no acting principal (metadata '${PRINCIPAL_METADATA_KEY}').`,
    );
  }
  return principal;
}

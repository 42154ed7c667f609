import { z } from 'zod';
import { positiveInt } from '@cairn/config';

/**
 * Governance settings:
 * - `CAIRN_REGISTRY_GOVERNANCE_SWEEP_INTERVAL_MS`: how often expired transition requests are
 *   recorded EXPIRED and fully approved requests whose promotion was interrupted are finished.
 *   A request past its deadline shows EXPIRED and is refused at once whatever this is.
 */
export const governanceSettings = z.object({
  CAIRN_REGISTRY_GOVERNANCE_SWEEP_INTERVAL_MS: positiveInt(30_000),
});

export type GovernanceSettings = z.infer<typeof governanceSettings>;

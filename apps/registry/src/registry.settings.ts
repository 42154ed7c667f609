import type { z } from 'zod';
import { artifactStoreSettings } from '@cairn/artifacts';
import { auditSettings } from './audit/audit-signer';
import { governanceSettings } from './governance/governance.settings';
import { signingSettings } from './signing/signing-keyring';
import { webhookSettings } from './webhooks/webhook.settings';

/**
 * The registry's own settings, validated at start-up with the common ones: the artifact store
 * (model files), the audit checkpoint key, the artifact signing keys, the webhooks and the governance sweeper. Each
 * feature keeps its schema next to its code; this is their union (`extend` keeps the artifact
 * store's cross-setting check).
 */
export const registrySettings = artifactStoreSettings
  .extend(auditSettings.shape)
  .extend(signingSettings.shape)
  .extend(webhookSettings.shape)
  .extend(governanceSettings.shape);

export type RegistrySettings = z.infer<typeof registrySettings>;

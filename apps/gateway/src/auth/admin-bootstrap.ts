import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '@cairn/service-runtime';
import { AuthService, type BootstrappedAdmin } from './auth.service';
import type { AuthConfig } from './auth.settings';
import { AUTH_CONFIG } from './auth.tokens';

/** The log message that carries the first admin's credentials; searchable, printed once. */
export const ADMIN_CREDENTIALS_MESSAGE =
  'cairn admin credentials created: shown only this once, store them now';

/**
 * Prints the bootstrap admin's credentials on the service's log (stdout), once: the password
 * (unless CAIRN_ADMIN_PASSWORD set it) and the API key. Field names avoid the logger's
 * redaction of `password`, on purpose: this one line exists to show them. It is logged at
 * warn on a logger that ignores LOG_LEVEL, so a quiet deployment still shows it.
 */
export function printAdminCredentials(logger: Logger, admin: BootstrappedAdmin): void {
  logger.child({ component: 'admin-bootstrap' }, { level: 'info' }).warn(
    {
      adminPrincipal: admin.principal,
      adminUsername: admin.principal.slice('user:'.length),
      ...(admin.generatedPassword !== undefined
        ? { adminInitialPassword: admin.generatedPassword }
        : { adminInitialPasswordFrom: 'CAIRN_ADMIN_PASSWORD' }),
      adminApiKey: admin.apiKey,
      usage: 'authorization: Bearer <adminApiKey>, or MLFLOW_TRACKING_USERNAME/PASSWORD',
    },
    ADMIN_CREDENTIALS_MESSAGE,
  );
}

/** On start, creates the first admin when there is none (see AuthService.ensureAdmin). */
@Injectable()
export class AdminBootstrap implements OnApplicationBootstrap {
  constructor(
    @Inject(AuthService) private readonly auth: AuthService,
    @Inject(AUTH_CONFIG) private readonly config: AuthConfig,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const admin = await this.auth.ensureAdmin(this.config.adminPassword);
    if (admin) printAdminCredentials(this.logger, admin);
  }
}

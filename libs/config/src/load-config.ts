import type { z } from 'zod';

/** One invalid or missing setting, named by its environment variable. */
export interface ConfigIssue {
  setting: string;
  reason: string;
  value?: string;
}

/** Thrown when configuration does not validate; the message names every bad setting. */
export class ConfigError extends Error {
  readonly reason = 'CONFIG_INVALID';
  constructor(
    readonly service: string,
    readonly issues: ConfigIssue[],
  ) {
    super(
      `Invalid configuration for ${service}:\n` +
        issues
          .map((i) => `  - ${i.setting}: ${i.reason}${i.value === undefined ? '' : ` (got "${i.value}")`}`)
          .join('\n'),
    );
    this.name = 'ConfigError';
  }
}

/** Names that look like secrets are never echoed back in error messages. */
const SECRET = /(PASSWORD|SECRET|TOKEN|KEY|DATABASE_URL)/i;

/**
 * Validates the environment against a schema whose keys are environment variable names.
 * Every issue is collected so a misconfigured deployment is fixed in one round trip.
 */
export function loadConfig<S extends z.ZodObject>(
  service: string,
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const raw = env[key];
    // An empty variable means "not set": Helm and shells often export empty strings.
    input[key] = raw === '' ? undefined : raw;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue): ConfigIssue => {
    const setting = String(issue.path[0] ?? '(root)');
    const raw = input[setting];
    const reason = raw === undefined && issue.code === 'invalid_type' ? 'is required' : issue.message;
    return { setting, reason, value: raw === undefined || SECRET.test(setting) ? undefined : raw };
  });
  throw new ConfigError(service, issues);
}

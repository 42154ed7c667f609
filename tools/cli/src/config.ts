import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

export const DEFAULT_ADDRESS = '127.0.0.1:50051';

/** What `cairn login` stores: where the gateway is and the API key to call it with. */
const CliConfigSchema = z.object({
  address: z.string().min(1),
  apiKey: z.string().min(1).optional(),
  principal: z.string().optional(),
});
export type CliConfig = z.infer<typeof CliConfigSchema>;

/** The environment variables the CLI reads. */
export interface CliEnv {
  readonly CAIRN_CONFIG?: string;
  readonly CAIRN_ADDRESS?: string;
  readonly CAIRN_API_KEY?: string;
  readonly XDG_CONFIG_HOME?: string;
  readonly HOME?: string;
}

/** `$CAIRN_CONFIG`, else `$XDG_CONFIG_HOME/cairn/config.json`, else `~/.config/cairn/config.json`. */
export function configPath(env: CliEnv): string {
  if (env.CAIRN_CONFIG) return path.resolve(env.CAIRN_CONFIG);
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'cairn', 'config.json');
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}

/** The stored config, or undefined when there is none; a malformed file is an error, not ignored. */
export async function readConfig(file: string): Promise<CliConfig | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(file, 'not valid JSON (run `cairn login` again)');
  }
  const parsed = CliConfigSchema.safeParse(json);
  if (!parsed.success) throw new ConfigError(file, `invalid config: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/**
 * Writes the config readable by its owner only (it holds an API key): into a temporary file
 * created 0600 and renamed over the old one, so a reader never sees half a file.
 */
export async function writeConfig(file: string, config: CliConfig): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  await writeFile(tmp, `${JSON.stringify(CliConfigSchema.parse(config), null, 2)}\n`, { mode: 0o600 });
  // The mode of writeFile is masked by the umask and ignored for an existing file.
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

/** Removes the config; false when there was none. */
export async function removeConfig(file: string): Promise<boolean> {
  try {
    await rm(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Where to connect and with which key: the environment overrides the stored config. */
export function resolveConnection(
  config: CliConfig | undefined,
  env: CliEnv,
): { address: string; apiKey: string | undefined } {
  return {
    address: env.CAIRN_ADDRESS || config?.address || DEFAULT_ADDRESS,
    apiKey: env.CAIRN_API_KEY || config?.apiKey,
  };
}

import os from 'node:os';
import { type Command, Option } from 'commander';
import { type CairnCredentials } from '@cairn/sdk';
import { DEFAULT_ADDRESS, removeConfig, writeConfig } from '../config';
import { CliError, type CliContext, EXIT, type JsonOption } from '../context';
import { formatFields, formatTable, formatTime } from '../output';
import { parseDuration } from '../parse';
import { roleName, whoAmIView } from '../views';

interface LoginOptions {
  address?: string;
  apiKey?: string;
  apiKeyStdin?: boolean;
  username?: string;
  password?: string;
  passwordStdin?: boolean;
}

export function registerAuthCommands(program: Command, ctx: CliContext): void {
  program
    .command('login')
    .description(
      'store the gateway address and credentials (an API key; with a username and password, the CLI creates an API key and stores that, never the password)',
    )
    .option(
      '--address <host:port>',
      `the gateway (default: CAIRN_ADDRESS, the stored one, or ${DEFAULT_ADDRESS})`,
    )
    .option('--api-key <token>', 'an API key (cairn_<id>_<secret>); default: CAIRN_API_KEY')
    .option('--api-key-stdin', 'read the API key from standard input')
    .option('--username <name>', 'log in with a username and password instead')
    .option('--password <password>', 'the password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (opts: LoginOptions) => {
      const stored = await ctx.loadConfig().catch(() => undefined);
      const address = opts.address ?? ctx.env.CAIRN_ADDRESS ?? stored?.address ?? DEFAULT_ADDRESS;
      let apiKey: string;
      if (opts.username !== undefined) {
        const password = opts.passwordStdin ? (await ctx.readStdin()).trim() : opts.password;
        if (!password)
          throw new CliError('USAGE', '--username needs --password or --password-stdin', EXIT.usage);
        const basic = ctx.connect(address, { username: opts.username, password });
        await basic.whoAmI();
        const created = await basic.auth.createApiKey({
          name: `cairn-cli@${os.hostname()} ${new Date().toISOString().slice(0, 10)}`,
        });
        apiKey = created.token;
      } else {
        const given = opts.apiKeyStdin
          ? (await ctx.readStdin()).trim()
          : (opts.apiKey ?? ctx.env.CAIRN_API_KEY);
        if (!given) {
          throw new CliError(
            'USAGE',
            'give --api-key, --api-key-stdin, CAIRN_API_KEY or --username',
            EXIT.usage,
          );
        }
        apiKey = given;
      }
      const credentials: CairnCredentials = { apiKey };
      const me = await ctx.connect(address, credentials).whoAmI();
      await writeConfig(ctx.configFile, { address, apiKey, principal: me.principal });
      ctx.note(
        `logged in to ${address} as ${me.principal} (${me.roles.map(roleName).join(', ')}); saved ${ctx.configFile}`,
      );
    });

  program
    .command('whoami')
    .description('who the gateway takes you for')
    .option('--json', 'machine-readable output')
    .action(async (opts: JsonOption) => {
      const me = await (await ctx.cairn()).whoAmI();
      if (opts.json) return ctx.json(whoAmIView(me));
      ctx.out(
        formatFields([
          ['principal', me.principal],
          ['roles', me.roles.map(roleName).join(', ')],
          ['via', me.via],
        ]),
      );
    });

  program
    .command('logout')
    .description('forget the stored credentials (the API key stays valid until revoked)')
    .action(async () => {
      const removed = await removeConfig(ctx.configFile);
      ctx.note(removed ? `removed ${ctx.configFile}` : 'not logged in');
    });

  const keys = program.command('api-keys').description('your API keys (or, as an admin, anyone’s)');
  keys
    .command('create')
    .description('create an API key; its token is shown this once')
    .option('--name <label>', 'a label, e.g. laptop or ci-nightly', 'cairn-cli')
    .option('--principal <id>', 'whose key (admins only; yours by default)')
    .addOption(new Option('--expires-in <duration>', 'lifetime, e.g. 30d or 12h').argParser(parseDuration))
    .option('--json', 'machine-readable output')
    .action(async (opts: { name: string; principal?: string; expiresIn?: number } & JsonOption) => {
      const res = await (
        await ctx.cairn()
      ).auth.createApiKey({
        name: opts.name,
        principal: opts.principal ?? '',
        expirationTimestamp: opts.expiresIn === undefined ? undefined : Date.now() + opts.expiresIn,
      });
      if (opts.json) return ctx.json(res);
      ctx.out(res.token);
      ctx.note(
        `API key ${res.apiKey?.keyId} for ${res.apiKey?.principal}: the token above is shown only this once`,
      );
    });
  keys
    .command('list')
    .description('list API keys, newest first (never their secrets)')
    .option('--principal <id>', 'whose keys (admins only; yours by default)')
    .option('--all', 'include revoked and expired keys')
    .option('--json', 'machine-readable output')
    .action(async (opts: { principal?: string; all?: boolean } & JsonOption) => {
      const { apiKeys } = await (
        await ctx.cairn()
      ).auth.listApiKeys({ principal: opts.principal ?? '', includeInactive: opts.all ?? false });
      if (opts.json) return ctx.json(apiKeys);
      ctx.out(
        formatTable(
          ['key id', 'name', 'principal', 'created', 'expires', 'last used', 'revoked'],
          apiKeys.map((k) => [
            k.keyId,
            k.name,
            k.principal,
            formatTime(k.creationTimestamp),
            formatTime(k.expirationTimestamp),
            formatTime(k.lastUsedTimestamp),
            formatTime(k.revocationTimestamp),
          ]),
        ),
      );
    });
  keys
    .command('revoke')
    .description('revoke an API key at once')
    .argument('<key-id>', 'the key id (the <id> in cairn_<id>_<secret>)')
    .option('--json', 'machine-readable output')
    .action(async (keyId: string, opts: JsonOption) => {
      const { apiKey } = await (await ctx.cairn()).auth.revokeApiKey({ keyId });
      if (opts.json) return ctx.json(apiKey);
      ctx.note(`revoked ${apiKey?.keyId ?? keyId}`);
    });
}

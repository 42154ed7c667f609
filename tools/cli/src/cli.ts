import { Command, CommanderError } from 'commander';
import { CairnError } from '@cairn/sdk';
import { registerAuthCommands } from './commands/auth.commands';
import { registerEventCommands } from './commands/events.commands';
import { registerRegistryCommands } from './commands/registry.commands';
import { registerTrackingCommands } from './commands/tracking.commands';
import { ConfigError } from './config';
import { CliError, type CliContext, EXIT, exitCodeOf } from './context';

export const CLI_VERSION = '0.1.0';

/** The `cairn` command tree, writing through `ctx`; commander's exits become exceptions. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('cairn')
    .description(
      'Cairn from the command line: experiments, runs and artifacts, the governed model registry, and events.\n' +
        'Connects to the gateway stored by `cairn login` (CAIRN_ADDRESS and CAIRN_API_KEY override it).',
    )
    .version(CLI_VERSION)
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (s) => ctx.io.stdout.write(s),
      writeErr: (s) => ctx.io.stderr.write(s),
      // Usage errors read like the others: `error: USAGE: <message>`.
      outputError: (s, write) => write(s.replace(/^error: /, 'error: USAGE: ')),
    })
    .exitOverride();
  registerAuthCommands(program, ctx);
  registerTrackingCommands(program, ctx);
  registerRegistryCommands(program, ctx);
  registerEventCommands(program, ctx);
  return program;
}

/** The one line a failure prints: `error: <REASON>: <message>`, and its exit code. */
export function describeFailure(err: unknown): { line: string; exitCode: number } {
  if (err instanceof CairnError) {
    return { line: `error: ${err.reason}: ${err.details}`, exitCode: exitCodeOf(err.code) };
  }
  if (err instanceof CliError)
    return { line: `error: ${err.reason}: ${err.message}`, exitCode: err.exitCode };
  if (err instanceof ConfigError)
    return { line: `error: INVALID_CONFIG: ${err.message}`, exitCode: EXIT.error };
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return { line: `error: ${typeof code === 'string' ? code : 'ERROR'}: ${message}`, exitCode: EXIT.error };
}

/** Runs the CLI on `args` (without node and the script); resolves with the exit code. */
export async function runCli(args: readonly string[], ctx: CliContext): Promise<number> {
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...args], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version "fail" with exit code 0; commander printed everything already.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const { line, exitCode } = describeFailure(err);
    ctx.io.stderr.write(`${line}\n`);
    return exitCode;
  } finally {
    ctx.close();
  }
}

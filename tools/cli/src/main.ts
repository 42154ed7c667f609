#!/usr/bin/env node
import { runCli } from './cli';
import { CliContext } from './context';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const ctx = new CliContext(
  { stdout: process.stdout, stderr: process.stderr },
  process.env,
  (handler) => {
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  },
  readStdin,
);

// Exit through exitCode rather than process.exit so that stdout is flushed when piped.
void runCli(process.argv.slice(2), ctx).then((code) => {
  process.exitCode = code;
});

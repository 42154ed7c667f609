// `npm run events:replay-dlq -- --topic <topic> ...`: see libs/service-runtime/src/replay-dead-letters.cli.ts
import { runReplayDeadLettersCli } from '@cairn/service-runtime';

void runReplayDeadLettersCli(process.argv.slice(2)).then((code) => process.exit(code));

import { type Command, Option } from 'commander';
import { registryV1 } from '@cairn/proto';
import type { CairnClient } from '@cairn/sdk';
import { CliError, type CliContext, EXIT, type JsonOption } from '../context';
import { formatFields, formatTable, formatTime } from '../output';
import { parsePositiveInt, parseRequestStatus, parseStage } from '../parse';
import {
  modelVersionView,
  positionText,
  registeredModelView,
  requestStatusName,
  stageName,
  transitionRequestView,
  versionStatusName,
} from '../views';

/** A string literal in MLflow's filter grammar. */
export function filterLiteral(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function printRequest(ctx: CliContext, r: registryV1.TransitionRequest): void {
  ctx.out(
    formatFields([
      ['request id', r.requestId],
      ['model', `${r.name} v${r.version}`],
      ['transition', `${positionText(r.from) || '?'} -> ${positionText(r.to)}`],
      ['status', requestStatusName(r.status)],
      ['requested by', r.requestedBy],
      [
        'approvals',
        `${r.approvals.length}/${r.approvalsRequired} ${r.approvals.map((a) => a.approver).join(', ')}`,
      ],
      ['created', formatTime(r.createdAt)],
      ['expires', formatTime(r.expiresAt)],
      ['closed by', r.closedBy],
      [
        'gates',
        r.gateResults.map((g) => `${g.gate}: ${g.passed ? 'passed' : `failed (${g.message})`}`).join('; '),
      ],
    ]),
  );
}

const versionRows = (versions: registryV1.ModelVersion[]) =>
  versions.map((v) => [
    v.version,
    stageName(v.currentStage),
    versionStatusName(v.status),
    v.aliases.join(', '),
    v.runId,
    v.userId,
    formatTime(v.creationTimestamp),
    v.signature ? v.signature.keyId : '',
  ]);
const VERSION_HEADERS = ['version', 'stage', 'status', 'aliases', 'run id', 'user', 'created', 'signed by'];

/** Every page of a model's transition requests with the given status (all when unspecified). */
async function requestsOf(
  cairn: CairnClient,
  name: string,
  requestStatus: registryV1.TransitionRequestStatus,
): Promise<registryV1.TransitionRequest[]> {
  const all: registryV1.TransitionRequest[] = [];
  let pageToken = '';
  do {
    const page = await cairn.governance.listTransitionRequests({ name, status: requestStatus, pageToken });
    all.push(...page.requests);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return all;
}

export function registerRegistryCommands(program: Command, ctx: CliContext): void {
  const models = program
    .command('models')
    .description('the model registry: models, versions, governance, audit');
  models
    .command('list')
    .description('list registered models')
    .option('--filter <expr>', 'MLflow filter, e.g. "name LIKE \'churn%\'"', '')
    .addOption(new Option('--max-results <n>', 'at most this many').argParser(parsePositiveInt).default(1000))
    .option('--json', 'machine-readable output')
    .action(async (opts: { filter: string; maxResults: number } & JsonOption) => {
      const { registeredModels } = await (
        await ctx.cairn()
      ).models.searchRegisteredModels({ filter: opts.filter, maxResults: opts.maxResults });
      if (opts.json) return ctx.json(registeredModels.map(registeredModelView));
      ctx.out(
        formatTable(
          ['name', 'latest versions', 'aliases', 'updated', 'created by'],
          registeredModels.map((m) => [
            m.name,
            m.latestVersions.map((v) => `${stageName(v.currentStage)}:${v.version}`).join(', '),
            m.aliases.map((a) => `@${a.alias}:${a.version}`).join(', '),
            formatTime(m.lastUpdatedTimestamp),
            m.createdBy,
          ]),
        ),
      );
    });
  models
    .command('show')
    .description('show a registered model with its latest version per stage')
    .argument('<name>', 'model name')
    .option('--json', 'machine-readable output')
    .action(async (name: string, opts: JsonOption) => {
      const { registeredModel: m } = await (await ctx.cairn()).models.getRegisteredModel({ name });
      if (!m) throw new CliError('REGISTERED_MODEL_NOT_FOUND', `no model ${name}`, EXIT.notFound);
      if (opts.json) return ctx.json(registeredModelView(m));
      ctx.out(
        [
          formatFields([
            ['name', m.name],
            ['description', m.description],
            ['created by', m.createdBy],
            ['created', formatTime(m.creationTimestamp)],
            ['updated', formatTime(m.lastUpdatedTimestamp)],
            ['aliases', m.aliases.map((a) => `@${a.alias} -> ${a.version}`).join(', ')],
            ['tags', m.tags.map((t) => `${t.key}=${t.value}`).join(', ')],
          ]),
          formatTable(VERSION_HEADERS, versionRows(m.latestVersions)),
        ].join('\n\n'),
      );
    });
  models
    .command('versions')
    .description('list a model’s versions')
    .argument('<name>', 'model name')
    .option('--json', 'machine-readable output')
    .action(async (name: string, opts: JsonOption) => {
      const { modelVersions } = await (
        await ctx.cairn()
      ).models.searchModelVersions({
        filter: `name = ${filterLiteral(name)}`,
        orderBy: ['version_number DESC'],
      });
      if (opts.json) return ctx.json(modelVersions.map(modelVersionView));
      ctx.out(formatTable(VERSION_HEADERS, versionRows(modelVersions)));
    });
  models
    .command('create')
    .description('create a registered model')
    .argument('<name>', 'a unique name')
    .option('--description <text>', 'what it is', '')
    .option('--json', 'machine-readable output')
    .action(async (name: string, opts: { description: string } & JsonOption) => {
      const { registeredModel } = await (
        await ctx.cairn()
      ).models.createRegisteredModel({ name, description: opts.description });
      if (opts.json) return ctx.json(registeredModel && registeredModelView(registeredModel));
      ctx.note(`created model ${name}`);
    });
  models
    .command('register')
    .description(
      'register a new version from a run’s artifacts (runs:/<run>/<path>) or a source URI; prints its number',
    )
    .argument('<name>', 'model name')
    .option('--run <id>', 'the source run')
    .option('--path <dir>', 'the model’s directory in the run’s artifacts', 'model')
    .option('--source <uri>', 'a source URI instead of --run')
    .option('--description <text>', 'what this version is', '')
    .option('--json', 'machine-readable output')
    .action(
      async (
        name: string,
        opts: { run?: string; path: string; source?: string; description: string } & JsonOption,
      ) => {
        if (!opts.run && !opts.source) throw new CliError('USAGE', 'give --run or --source', EXIT.usage);
        const source = opts.source ?? `runs:/${opts.run}/${opts.path.replace(/^\/+/, '')}`;
        const { modelVersion } = await (
          await ctx.cairn()
        ).models.createModelVersion({ name, source, runId: opts.run ?? '', description: opts.description });
        if (opts.json) return ctx.json(modelVersion && modelVersionView(modelVersion));
        ctx.out(modelVersion?.version ?? '');
        ctx.note(
          `registered ${name} v${modelVersion?.version} from ${source} (${modelVersion && versionStatusName(modelVersion.status)})`,
        );
      },
    );
  models
    .command('request')
    .description('ask for a version to move to a stage or take an alias (applies at once when unprotected)')
    .argument('<name>', 'model name')
    .argument('<version>', 'version number')
    .addOption(
      new Option('--stage <stage>', 'Staging, Production or Archived')
        .argParser(parseStage)
        .conflicts('alias'),
    )
    .option('--alias <alias>', 'an alias instead of a stage')
    .option('--archive-existing', 'archive the versions now in that stage when it applies')
    .option('--comment <text>', 'why', '')
    .option('--json', 'machine-readable output')
    .action(
      async (
        name: string,
        version: string,
        opts: {
          stage?: registryV1.Stage;
          alias?: string;
          archiveExisting?: boolean;
          comment: string;
        } & JsonOption,
      ) => {
        const to: registryV1.Position | undefined =
          opts.stage !== undefined
            ? { target: { $case: 'stage', value: opts.stage } }
            : opts.alias !== undefined
              ? { target: { $case: 'alias', value: opts.alias } }
              : undefined;
        if (!to) throw new CliError('USAGE', 'give --stage or --alias', EXIT.usage);
        const res = await (
          await ctx.cairn()
        ).governance.requestTransition({
          name,
          version,
          to,
          archiveExistingVersions: opts.archiveExisting ?? false,
          comment: opts.comment,
        });
        if (opts.json) {
          return ctx.json({
            request: res.request && transitionRequestView(res.request),
            modelVersion: res.modelVersion && modelVersionView(res.modelVersion),
          });
        }
        if (res.request) printRequest(ctx, res.request);
        else if (res.modelVersion) ctx.note(`applied: ${name} v${version} is now ${positionText(to)}`);
      },
    );
  models
    .command('approve')
    .description('approve a pending transition request (not your own)')
    .argument('<request-id>', 'the request')
    .option('--comment <text>', 'a comment', '')
    .option('--json', 'machine-readable output')
    .action(async (requestId: string, opts: { comment: string } & JsonOption) => {
      const { request } = await (
        await ctx.cairn()
      ).governance.approveTransition({ requestId, comment: opts.comment });
      if (!request) return;
      if (opts.json) return ctx.json(transitionRequestView(request));
      printRequest(ctx, request);
    });
  models
    .command('reject')
    .description('reject a pending transition request')
    .argument('<request-id>', 'the request')
    .requiredOption('--reason <text>', 'why')
    .option('--json', 'machine-readable output')
    .action(async (requestId: string, opts: { reason: string } & JsonOption) => {
      const { request } = await (
        await ctx.cairn()
      ).governance.rejectTransition({ requestId, comment: opts.reason });
      if (!request) return;
      if (opts.json) return ctx.json(transitionRequestView(request));
      printRequest(ctx, request);
    });
  models
    .command('requests')
    .description('list transition requests, newest first (of every model you may read without --model)')
    .option('--model <name>', 'one model’s')
    .addOption(
      new Option(
        '--status <status>',
        'pending, applied, rejected, gates_failed, withdrawn or expired',
      ).argParser(parseRequestStatus),
    )
    .option('--json', 'machine-readable output')
    .action(async (opts: { model?: string; status?: registryV1.TransitionRequestStatus } & JsonOption) => {
      const cairn = await ctx.cairn();
      const wanted = opts.status ?? registryV1.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_UNSPECIFIED;
      const names = opts.model
        ? [opts.model]
        : (await cairn.models.searchRegisteredModels({ maxResults: 1000 })).registeredModels.map(
            (m) => m.name,
          );
      const requests = (await Promise.all(names.map((n) => requestsOf(cairn, n, wanted))))
        .flat()
        .sort((a, b) => b.createdAt - a.createdAt);
      if (opts.json) return ctx.json(requests.map(transitionRequestView));
      ctx.out(
        formatTable(
          ['request id', 'model', 'version', 'to', 'status', 'requested by', 'approvals', 'created'],
          requests.map((r) => [
            r.requestId,
            r.name,
            r.version,
            positionText(r.to),
            requestStatusName(r.status),
            r.requestedBy,
            `${r.approvals.length}/${r.approvalsRequired}`,
            formatTime(r.createdAt),
          ]),
        ),
      );
    });

  const alias = models.command('alias').description('point aliases at versions');
  alias
    .command('set')
    .description('point an alias at a version (a protected alias needs `models request --alias`)')
    .argument('<name>', 'model name')
    .argument('<alias>', 'the alias')
    .argument('<version>', 'version number')
    .action(async (name: string, aliasName: string, version: string) => {
      await (await ctx.cairn()).models.setRegisteredModelAlias({ name, alias: aliasName, version });
      ctx.note(`${name}@${aliasName} -> v${version}`);
    });
  alias
    .command('delete')
    .description('remove an alias')
    .argument('<name>', 'model name')
    .argument('<alias>', 'the alias')
    .argument('[version]', 'ignored; accepted for symmetry with `alias set`')
    .action(async (name: string, aliasName: string) => {
      await (await ctx.cairn()).models.deleteRegisteredModelAlias({ name, alias: aliasName });
      ctx.note(`removed ${name}@${aliasName}`);
    });

  models
    .command('verify')
    .description('recompute a version’s artifact manifest and verify its signature (exit 1 when invalid)')
    .argument('<name>', 'model name')
    .argument('<version>', 'version number')
    .option('--json', 'machine-readable output')
    .action(async (name: string, version: string, opts: JsonOption) => {
      const res = await (await ctx.cairn()).signing.verifyModelVersion({ name, version });
      if (opts.json) ctx.json(res);
      else {
        ctx.out(
          formatFields([
            ['valid', res.valid],
            ['reason', res.reason],
            ['message', res.message],
            ['recorded digest', res.recordedDigest],
            ['computed digest', res.computedDigest],
          ]),
        );
      }
      if (!res.valid)
        throw new CliError(
          res.reason || 'INVALID_SIGNATURE',
          res.message || `${name} v${version} does not verify`,
        );
    });

  const audit = models
    .command('audit')
    .description('the registry’s audit log, newest first (of one model, or all for operators)')
    .option('--model <name>', 'one model’s entries')
    .option('--actor <principal>', 'one actor’s entries, e.g. user:alice')
    .addOption(new Option('--max-results <n>', 'at most this many').argParser(parsePositiveInt).default(100))
    .option('--json', 'machine-readable output')
    .action(async (opts: { model?: string; actor?: string; maxResults: number } & JsonOption) => {
      const { entries } = await (
        await ctx.cairn()
      ).audit.listAuditEntries({
        model: opts.model ?? '',
        actor: opts.actor ?? '',
        maxResults: opts.maxResults,
      });
      if (opts.json) return ctx.json(entries);
      ctx.out(
        formatTable(
          ['seq', 'time', 'actor', 'action', 'object', 'model', 'reason'],
          entries.map((e) => [
            e.seq,
            formatTime(e.occurredAt),
            e.actor,
            e.action,
            `${e.objectType}:${e.objectId}`,
            e.model,
            e.reason,
          ]),
        ),
      );
    });
  audit
    .command('verify')
    .description('verify the whole hash chain and its signed checkpoints (exit 1 when broken)')
    .option('--json', 'machine-readable output')
    .action(async (_opts: JsonOption, command: Command) => {
      // `audit` has a --json of its own, which takes the flag when it follows `verify`.
      const opts = command.optsWithGlobals<JsonOption>();
      const res = await (await ctx.cairn()).audit.verifyAuditChain({});
      if (opts.json) ctx.json(res);
      else {
        ctx.out(
          formatFields([
            ['ok', res.ok],
            ['entries checked', res.entriesChecked],
            ['checkpoints checked', res.checkpointsChecked],
            ['head', res.headSeq],
            ...(res.ok
              ? []
              : ([
                  ['first bad entry', res.firstBadSeq],
                  ['reason', res.reason],
                  ['message', res.message],
                ] as const)),
          ]),
        );
      }
      if (!res.ok)
        throw new CliError(
          res.reason || 'AUDIT_CHAIN_BROKEN',
          res.message || `entry ${res.firstBadSeq} fails`,
        );
    });
}

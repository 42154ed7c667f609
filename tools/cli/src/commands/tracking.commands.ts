import { stat } from 'node:fs/promises';
import path from 'node:path';
import { SingleBar } from 'cli-progress';
import { type Command, Option } from 'commander';
import { status } from '@grpc/grpc-js';
import { trackingV1 } from '@cairn/proto';
import { type CairnClient, CairnError, type DirectoryUploadProgress } from '@cairn/sdk';
import { CliError, type CliContext, EXIT, type JsonOption } from '../context';
import { formatBytes, formatFields, formatTable, formatTime } from '../output';
import { collect, parseKeyValue, parseMetric, parsePositiveInt, parseRunStatus } from '../parse';
import { experimentView, lifecycleName, runStatusName, runView } from '../views';

/** An experiment by id, else by exact name. */
async function findExperiment(cairn: CairnClient, idOrName: string): Promise<trackingV1.Experiment> {
  try {
    const { experiment } = await cairn.experiments.getExperiment({ experimentId: idOrName });
    if (experiment) return experiment;
  } catch (err) {
    const notAnId =
      err instanceof CairnError && (err.code === status.NOT_FOUND || err.code === status.INVALID_ARGUMENT);
    if (!notAnId) throw err;
  }
  const { experiment } = await cairn.experiments.getExperimentByName({ experimentName: idOrName });
  if (!experiment) throw new CliError('EXPERIMENT_NOT_FOUND', `no experiment ${idOrName}`, EXIT.notFound);
  return experiment;
}

export function registerTrackingCommands(program: Command, ctx: CliContext): void {
  const experiments = program.command('experiments').description('experiments: named groups of runs');
  experiments
    .command('list')
    .description('list experiments')
    .option('--filter <expr>', 'MLflow filter, e.g. "name LIKE \'churn%\'"', '')
    .option('--all', 'include deleted experiments')
    .addOption(new Option('--max-results <n>', 'at most this many').argParser(parsePositiveInt).default(1000))
    .option('--json', 'machine-readable output')
    .action(async (opts: { filter: string; all?: boolean; maxResults: number } & JsonOption) => {
      const { experiments: found } = await (
        await ctx.cairn()
      ).experiments.searchExperiments({
        filter: opts.filter,
        maxResults: opts.maxResults,
        viewType: opts.all ? trackingV1.ViewType.VIEW_TYPE_ALL : trackingV1.ViewType.VIEW_TYPE_ACTIVE_ONLY,
      });
      if (opts.json) return ctx.json(found.map(experimentView));
      ctx.out(
        formatTable(
          ['id', 'name', 'stage', 'created', 'artifact location'],
          found.map((e) => [
            e.experimentId,
            e.name,
            lifecycleName(e.lifecycleStage),
            formatTime(e.creationTime),
            e.artifactLocation,
          ]),
        ),
      );
    });
  experiments
    .command('show')
    .description('show an experiment')
    .argument('<experiment>', 'id or name')
    .option('--json', 'machine-readable output')
    .action(async (idOrName: string, opts: JsonOption) => {
      const e = await findExperiment(await ctx.cairn(), idOrName);
      if (opts.json) return ctx.json(experimentView(e));
      ctx.out(
        formatFields([
          ['id', e.experimentId],
          ['name', e.name],
          ['stage', lifecycleName(e.lifecycleStage)],
          ['artifact location', e.artifactLocation],
          ['created', formatTime(e.creationTime)],
          ['updated', formatTime(e.lastUpdateTime)],
          ['tags', e.tags.map((t) => `${t.key}=${t.value}`).join(', ')],
        ]),
      );
    });
  experiments
    .command('create')
    .description('create an experiment; prints its id')
    .argument('<name>', 'a unique name')
    .option('--tag <k=v>', 'a tag (repeatable)', collect(parseKeyValue))
    .option('--artifact-location <uri>', 'where its runs’ artifacts go (the store’s default otherwise)')
    .option('--json', 'machine-readable output')
    .action(
      async (name: string, opts: { tag?: trackingV1.Tag[]; artifactLocation?: string } & JsonOption) => {
        const res = await (
          await ctx.cairn()
        ).experiments.createExperiment({
          name,
          tags: opts.tag ?? [],
          artifactLocation: opts.artifactLocation,
        });
        if (opts.json) return ctx.json(res);
        ctx.out(res.experimentId);
      },
    );

  const runs = program.command('runs').description('runs: params, metrics, tags and artifacts');
  runs
    .command('list')
    .description('list an experiment’s runs, newest first')
    .requiredOption('--experiment <experiment>', 'id or name')
    .option('--filter <expr>', 'MLflow filter, e.g. "metrics.auc > 0.9"', '')
    .option('--order-by <expr>', 'e.g. "metrics.auc DESC" (repeatable)', collect(String))
    .addOption(new Option('--max-results <n>', 'at most this many').argParser(parsePositiveInt).default(1000))
    .option('--json', 'machine-readable output')
    .action(
      async (
        opts: { experiment: string; filter: string; orderBy?: string[]; maxResults: number } & JsonOption,
      ) => {
        const cairn = await ctx.cairn();
        const experiment = await findExperiment(cairn, opts.experiment);
        const { runs: found } = await cairn.runs.searchRuns({
          experimentIds: [experiment.experimentId],
          filter: opts.filter,
          orderBy: opts.orderBy ?? [],
          maxResults: opts.maxResults,
        });
        if (opts.json) return ctx.json(found.map(runView));
        ctx.out(
          formatTable(
            ['run id', 'name', 'status', 'user', 'started', 'ended'],
            found.map(({ info }) => [
              info?.runId,
              info?.runName,
              info && runStatusName(info.status),
              info?.userId,
              formatTime(info?.startTime),
              formatTime(info?.endTime),
            ]),
          ),
        );
      },
    );
  runs
    .command('create')
    .description('start a run in an experiment; prints its id')
    .requiredOption('--experiment <experiment>', 'id or name')
    .option('--name <name>', 'the run name (generated otherwise)')
    .option('--tag <k=v>', 'a tag (repeatable)', collect(parseKeyValue))
    .option('--json', 'machine-readable output')
    .action(async (opts: { experiment: string; name?: string; tag?: trackingV1.Tag[] } & JsonOption) => {
      const cairn = await ctx.cairn();
      const experiment = await findExperiment(cairn, opts.experiment);
      const { run } = await cairn.runs.createRun({
        experimentId: experiment.experimentId,
        runName: opts.name,
        tags: opts.tag ?? [],
      });
      if (opts.json) return ctx.json(run && runView(run));
      ctx.out(run?.info?.runId ?? '');
    });
  runs
    .command('show')
    .description('show a run with its latest metrics, params and tags')
    .argument('<run>', 'run id')
    .option('--json', 'machine-readable output')
    .action(async (runId: string, opts: JsonOption) => {
      const { run } = await (await ctx.cairn()).runs.getRun({ runId });
      if (!run) throw new CliError('RUN_NOT_FOUND', `no run ${runId}`, EXIT.notFound);
      if (opts.json) return ctx.json(runView(run));
      const { info, data } = run;
      const sections = [
        formatFields([
          ['run id', info?.runId],
          ['name', info?.runName],
          ['experiment', info?.experimentId],
          ['status', info && runStatusName(info.status)],
          ['user', info?.userId],
          ['started', formatTime(info?.startTime)],
          ['ended', formatTime(info?.endTime)],
          ['artifacts', info?.artifactUri],
        ]),
      ];
      if (data?.params.length)
        sections.push(
          formatTable(
            ['param', 'value'],
            data.params.map((p) => [p.key, p.value]),
          ),
        );
      if (data?.metrics.length) {
        sections.push(
          formatTable(
            ['metric', 'value', 'step'],
            data.metrics.map((m) => [m.key, m.value, m.step]),
          ),
        );
      }
      if (data?.tags.length)
        sections.push(
          formatTable(
            ['tag', 'value'],
            data.tags.map((t) => [t.key, t.value]),
          ),
        );
      ctx.out(sections.join('\n\n'));
    });
  runs
    .command('log')
    .description('log params, metrics and tags to a run, in one atomic batch')
    .argument('<run>', 'run id')
    .option('--param <k=v>', 'a param (repeatable)', collect(parseKeyValue))
    .option(
      '--metric <k=v[@step]>',
      'a metric value, at a step (default 0) (repeatable)',
      collect(parseMetric),
    )
    .option('--tag <k=v>', 'a tag (repeatable)', collect(parseKeyValue))
    .action(
      async (
        runId: string,
        opts: {
          param?: trackingV1.Param[];
          metric?: Array<ReturnType<typeof parseMetric>>;
          tag?: trackingV1.Tag[];
        },
      ) => {
        if (!opts.param && !opts.metric && !opts.tag) {
          throw new CliError('USAGE', 'nothing to log: give --param, --metric or --tag', EXIT.usage);
        }
        const timestamp = Date.now();
        await (
          await ctx.cairn()
        ).runs.logBatch({
          runId,
          params: opts.param ?? [],
          metrics: (opts.metric ?? []).map((m) => ({ ...m, timestamp })),
          tags: opts.tag ?? [],
        });
        const counts = [
          [opts.param?.length ?? 0, 'param'],
          [opts.metric?.length ?? 0, 'metric'],
          [opts.tag?.length ?? 0, 'tag'],
        ] as const;
        ctx.note(
          `logged ${counts
            .filter(([n]) => n > 0)
            .map(([n, what]) => `${n} ${what}${n === 1 ? '' : 's'}`)
            .join(', ')} to ${runId}`,
        );
      },
    );
  runs
    .command('finish')
    .description('end a run (FINISHED by default), which lets the registry register versions from it')
    .argument('<run>', 'run id')
    .addOption(
      new Option('--status <status>', 'FINISHED, FAILED or KILLED')
        .argParser(parseRunStatus)
        .default(trackingV1.RunStatus.RUN_STATUS_FINISHED, 'FINISHED'),
    )
    .option('--json', 'machine-readable output')
    .action(async (runId: string, opts: { status: trackingV1.RunStatus } & JsonOption) => {
      const { runInfo } = await (await ctx.cairn()).runs.updateRun({ runId, status: opts.status });
      if (opts.json) return ctx.json(runInfo && { ...runInfo, status: runStatusName(runInfo.status) });
      ctx.note(`run ${runId} is ${runInfo ? runStatusName(runInfo.status) : 'updated'}`);
    });
  runs
    .command('upload')
    .description('upload a file or a directory (recursively) to a run’s artifacts')
    .argument('<run>', 'run id')
    .argument('<local>', 'a local file or directory')
    .option(
      '--path <dir>',
      'the artifact directory to upload into (the root by default), as MLflow’s artifact_path',
    )
    .option('--json', 'machine-readable output')
    .action(async (runId: string, local: string, opts: { path?: string } & JsonOption) => {
      const cairn = await ctx.cairn();
      const dest = opts.path ?? '';
      const isDir = (await stat(local)).isDirectory();
      const progress = uploadProgress(ctx);
      try {
        const uploaded = isDir
          ? await cairn.uploadArtifactDirectory(runId, local, dest, progress.update)
          : [
              await cairn.uploadArtifact(runId, local, path.posix.join(dest, path.basename(local)), (file) =>
                progress.update({
                  file,
                  filesDone: 0,
                  fileCount: 1,
                  bytes: file.bytes,
                  totalBytes: file.totalBytes,
                }),
              ),
            ];
        progress.stop();
        if (opts.json) return ctx.json(uploaded);
        const total = uploaded.reduce((sum, u) => sum + u.size, 0);
        ctx.note(
          `uploaded ${uploaded.length} file${uploaded.length === 1 ? '' : 's'} (${formatBytes(total)}) to ${runId}`,
        );
      } finally {
        progress.stop();
      }
    });
  runs
    .command('artifacts')
    .description('list a directory of a run’s artifacts')
    .argument('<run>', 'run id')
    .argument('[path]', 'a directory (the root by default)', '')
    .option('--json', 'machine-readable output')
    .action(async (runId: string, dir: string, opts: JsonOption) => {
      const res = await (await ctx.cairn()).artifacts.listArtifacts({ runId, path: dir });
      if (opts.json) return ctx.json(res);
      ctx.out(
        formatTable(
          ['path', 'size'],
          res.files.map((f) => [f.isDir ? `${f.path}/` : f.path, f.isDir ? '' : formatBytes(f.fileSize)]),
        ),
      );
    });
  runs
    .command('download')
    .description('download one artifact file')
    .argument('<run>', 'run id')
    .argument('<path>', 'the artifact file')
    .option('-o, --output <file>', 'where to write it (its base name in the current directory by default)')
    .action(async (runId: string, artifact: string, opts: { output?: string }) => {
      const target = opts.output ?? path.basename(artifact);
      const { size } = await (await ctx.cairn()).downloadArtifact(runId, artifact, target);
      ctx.note(`downloaded ${artifact} (${formatBytes(size)}) to ${target}`);
    });
}

/**
 * A progress bar on stderr when it is a terminal; otherwise one plain line per finished file,
 * so logs of CI jobs stay readable.
 */
export function uploadProgress(ctx: CliContext): {
  update: (p: DirectoryUploadProgress) => void;
  stop: () => void;
} {
  if (ctx.io.stderr.isTTY) {
    const bar = new SingleBar({
      stream: ctx.io.stderr,
      format: 'uploading [{bar}] {percentage}% {sent}/{size} {file}',
      hideCursor: true,
      clearOnComplete: false,
    });
    let started = false;
    return {
      update: (p) => {
        const payload = { sent: formatBytes(p.bytes), size: formatBytes(p.totalBytes), file: p.file.path };
        if (!started) {
          bar.start(p.totalBytes, p.bytes, payload);
          started = true;
        } else {
          bar.update(p.bytes, payload);
        }
      },
      stop: () => {
        if (started) bar.stop();
        started = false;
      },
    };
  }
  return {
    update: (p) => {
      if (p.file.bytes === p.file.totalBytes) {
        ctx.note(
          `uploaded ${p.file.path} (${formatBytes(p.file.totalBytes)}) [${p.filesDone + 1}/${p.fileCount}]`,
        );
      }
    },
    stop: () => undefined,
  };
}

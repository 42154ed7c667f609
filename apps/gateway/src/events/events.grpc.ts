import { Inject, Injectable } from '@nestjs/common';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { DataSource } from 'typeorm';
import { gatewayEventsV1 as pb } from '@cairn/proto';
import { AppError, type CallContext, type CallerIdentity, GrpcService } from '@cairn/rpc';
import { type AccessTarget, AuthorizationService, denial } from '../auth';
import { type JournalEntry, EventJournalRepository } from './event-journal.repository';
import { validateWatchRequest, watchTargetOf } from './watch-request';

/** Journal rows read per query, and so per batched authorization. */
const PAGE_SIZE = 200;
/** How often a caught-up watcher looks for new rows: one indexed query per watcher. */
const POLL_INTERVAL_MS = 200;

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Resolves when the call's send buffer drains, or when `signal` aborts. */
function drained(call: ServerWritableStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      call.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    call.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

const toProto = (e: JournalEntry): pb.Event => ({
  id: e.eventId,
  type: e.type,
  source: e.source,
  subject: e.subject,
  time: e.time,
  dataJson: e.dataJson,
  sequence: e.seq,
});

/**
 * cairn.gateway.v1.EventsService. Watch reads the gateway's event journal after the resume
 * point in `seq` order, a page at a time, then polls it for new rows until the call is
 * cancelled or its deadline passes (`ctx.signal`); it waits for the call to drain when a write
 * reports a full buffer.
 *
 * Rule: an authenticated caller whose roles allow `read`; each event is then delivered only if
 * the caller may READ the registered model a registry event is about (its subject), or the
 * experiment of a tracking event that carries `experimentId`; other events need only the role.
 * Decisions are made once per page with `decideEach`, so a grant or revocation takes effect
 * from the next page.
 */
@Injectable()
@GrpcService(pb.EventsServiceService)
export class EventsGrpc {
  private activeWatches = 0;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(EventJournalRepository) private readonly journal: EventJournalRepository,
    @Inject(AuthorizationService) private readonly authz: AuthorizationService,
  ) {}

  /** Watches currently streaming (for operations and tests: a cancelled Watch leaves it). */
  get active(): number {
    return this.activeWatches;
  }

  async watch(
    req: pb.WatchRequest,
    call: ServerWritableStream<unknown, unknown>,
    ctx: CallContext,
  ): Promise<void> {
    const identity = ctx.identity;
    if (!identity) {
      throw new AppError('unauthenticated', 'CREDENTIALS_REQUIRED', 'Events.Watch needs credentials.');
    }
    const role = await this.authz.decide(identity, 'read');
    if (!role.allowed) throw denial(identity, 'read', undefined, role);
    const { filter, afterEventId } = validateWatchRequest(req);

    let after: number;
    if (afterEventId === undefined) {
      after = await this.journal.lastSeq(this.ds.manager);
    } else {
      const seq = await this.journal.seqOf(this.ds.manager, afterEventId);
      if (seq === undefined) {
        throw new AppError(
          'not_found',
          'EVENT_NOT_IN_JOURNAL',
          `Event '${afterEventId}' is not in the journal (unknown, or older than its retention).`,
          { after_event_id: afterEventId },
        );
      }
      after = seq;
    }

    const { signal } = ctx;
    this.activeWatches++;
    try {
      while (!signal.aborted) {
        const page = await this.journal.page(this.ds.manager, after, filter, PAGE_SIZE);
        if (page.length === 0) {
          await pause(POLL_INTERVAL_MS, signal);
          continue;
        }
        for (const entry of await this.visible(identity, page)) {
          if (signal.aborted) return;
          if (!call.write(toProto(entry))) await drained(call, signal);
        }
        after = page[page.length - 1].seq;
      }
    } finally {
      this.activeWatches--;
    }
  }

  /** The entries of a page the caller may see, with one authorization query for the page. */
  private async visible(identity: CallerIdentity, page: JournalEntry[]): Promise<JournalEntry[]> {
    const targets = page.map(watchTargetOf);
    const checked = targets.filter((t): t is AccessTarget => t !== undefined);
    if (checked.length === 0) return page;
    const decisions = await this.authz.decideEach(identity, 'read', checked);
    let next = 0;
    return page.filter((_, i) => (targets[i] === undefined ? true : decisions[next++].allowed));
  }
}

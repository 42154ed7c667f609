/** Why a Kafka event-bus operation failed, machine-readable (logs, metrics, alerts). */
export type KafkaBusErrorReason =
  | 'INVALID_CONFIG'
  | 'INVALID_ARGUMENT'
  | 'PUBLISH_FAILED'
  | 'TOPIC_CREATION_FAILED'
  | 'UNKNOWN_TOPIC'
  | 'GROUP_NOT_IDLE'
  | 'OFFSET_RESET_FAILED'
  | 'SUBSCRIPTION_STOPPED'
  | 'PARTITION_REVOKED'
  | 'CLOSED';

/** An error of the Kafka adapter: a reason code, the offending value, and the client's error as cause. */
export class KafkaBusError extends Error {
  override readonly name = 'KafkaBusError';

  constructor(
    readonly reason: KafkaBusErrorReason,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A message for any thrown value (kafkajs and Node errors may come from another realm under Jest). */
export function errorMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'message' in err) return String(err.message);
  return String(err);
}

/** The Kafka protocol error type (e.g. `REBALANCE_IN_PROGRESS`) that kafkajs puts on its errors. */
export function kafkaErrorType(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'type' in err && typeof err.type === 'string') {
    return err.type;
  }
  return undefined;
}

/**
 * Errors that mean this member's view of the group is stale: its partitions may already belong
 * to another member. kafkajs re-joins the group when such an error reaches its fetch loop.
 */
const GROUP_MEMBERSHIP_ERRORS = new Set([
  'REBALANCE_IN_PROGRESS',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'NOT_COORDINATOR_FOR_GROUP',
  'FENCED_INSTANCE_ID',
]);

export function isGroupMembershipError(err: unknown): boolean {
  const type = kafkaErrorType(err);
  return type !== undefined && GROUP_MEMBERSHIP_ERRORS.has(type);
}

/** True when `err`, or an error in its `cause` chain, says the broker lacks the API (e.g. the mock's DescribeGroups). */
export function isUnsupportedApiError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (typeof e !== 'object') return false;
    if ('name' in e && e.name === 'KafkaJSServerDoesNotSupportApiKey') return true;
    if (kafkaErrorType(e) === 'UNSUPPORTED_VERSION') return true;
    e = 'cause' in e ? e.cause : undefined;
  }
  return false;
}

import { UnrecoverableError } from 'bullmq';
import { persistRequestLogs, type PersistResult } from '../../src/domain/request-logs.service.js';
import type { JobProcessor } from '../processor-context.js';
import { logsQueue } from './definition.js';

/** At most this many bad records are named in a failure message. */
const NAMED_PROBLEMS = 5;

/**
 * Thin: parse, persist in one transaction, report counts. A batch with a malformed record never
 * parses on a retry, so it fails permanently naming the record (index and request id); anything
 * else (PostgreSQL away, a deadlock) throws and BullMQ retries with backoff — replaying a batch
 * is harmless because persistence is idempotent.
 */
export const processLogs: JobProcessor<PersistResult> = async (job, ctx) => {
  const parsed = logsQueue.payload.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`Invalid logs payload: ${describeIssues(job.data, parsed.error.issues)}`);
  const result = await persistRequestLogs(ctx.knex, parsed.data.records);
  if (result.duplicates > 0) ctx.logger.debug({ ...result }, 'log batch contained rows already stored');
  return result;
};

interface Issue {
  path: PropertyKey[];
  message: string;
}

/** "records[3] (request_id req-abc): status_code: Too big…", at most NAMED_PROBLEMS of them. */
export function describeIssues(data: unknown, issues: readonly Issue[]): string {
  const records = typeof data === 'object' && data !== null && Array.isArray((data as { records?: unknown }).records) ? (data as { records: unknown[] }).records : [];
  const parts = issues.slice(0, NAMED_PROBLEMS).map((issue) => {
    const [head, index, ...rest] = issue.path;
    if (head === 'records' && typeof index === 'number') {
      const record = records[index];
      const requestId = typeof record === 'object' && record !== null ? (record as { request_id?: unknown }).request_id : undefined;
      const name = typeof requestId === 'string' ? ` (request_id ${JSON.stringify(requestId.slice(0, 128))})` : '';
      return `records[${index}]${name}: ${rest.map(String).join('.') || 'record'}: ${issue.message}`;
    }
    return `${issue.path.map(String).join('.') || 'payload'}: ${issue.message}`;
  });
  const more = issues.length > NAMED_PROBLEMS ? `; and ${issues.length - NAMED_PROBLEMS} more problem(s)` : '';
  return parts.join('; ') + more;
}

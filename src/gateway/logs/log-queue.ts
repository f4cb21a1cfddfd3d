import { logBatchJobId, MAX_LOG_BATCH } from '../../../jobs/logs/definition.js';
import { enqueue, JobPayloadError, type QueueSet } from '../../../jobs/queues.js';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import type { RequestLogRecord } from '../types.js';
import { createLogBuffer, type BufferClock, type EnqueueOutcome, type LogBuffer } from './log-buffer.js';

/**
 * Connects the log buffer to the `logs` queue: one job per batch (at most MAX_LOG_BATCH records),
 * with a jobId derived from the batch's records, so re-sending a batch whose first enqueue timed
 * out does not add a second job. Malformed records (they would fail the worker's job forever) are
 * dropped here, counted as rejected, and the rest of the batch still goes.
 */
export function queueLogEnqueuer(queues: QueueSet, logger: Pick<Logger, 'error'>): (records: RequestLogRecord[]) => Promise<EnqueueOutcome> {
  const send = (records: RequestLogRecord[]) => enqueue(queues, 'logs', { records }, { jobId: logBatchJobId(records) });
  return async (records) => {
    let rejected = 0;
    for (let start = 0; start < records.length; start += MAX_LOG_BATCH) {
      const chunk = records.slice(start, start + MAX_LOG_BATCH);
      try {
        await send(chunk);
      } catch (err) {
        if (!(err instanceof JobPayloadError)) throw err;
        const bad = new Set<number>();
        for (const issue of err.issues) if (issue.path[0] === 'records' && typeof issue.path[1] === 'number') bad.add(issue.path[1]);
        // Only the issues' paths and messages are logged: records may carry request bodies.
        logger.error({ err: { message: err.message.slice(0, 2_000) }, rejected: bad.size || chunk.length }, 'dropping malformed request log records');
        const good = bad.size === 0 ? [] : chunk.filter((_, index) => !bad.has(index));
        rejected += chunk.length - good.length;
        if (good.length > 0) await send(good);
      }
    }
    return { rejected };
  };
}

/** The gateway's buffer with EZ_LOG_QUEUE / EZ_LOG_BATCH_SIZE / EZ_LOG_FLUSH_MS. */
export function createQueueLogBuffer(options: { queues: QueueSet; log: Config['log']; logger: Logger; clock?: BufferClock }): LogBuffer {
  return createLogBuffer({
    enqueue: queueLogEnqueuer(options.queues, options.logger),
    maxRecords: options.log.queueSize,
    batchSize: Math.min(options.log.batchSize, MAX_LOG_BATCH),
    flushMs: options.log.flushMs,
    logger: options.logger,
    ...(options.clock ? { clock: options.clock } : {}),
  });
}

import type { Logger } from './logger.js';

/**
 * Graceful shutdown for every entry point: on SIGINT/SIGTERM run the registered closers in
 * reverse order of registration (stop accepting → drain → close queues → Redis → knex), each
 * bounded by the shutdown timeout, then exit. A second signal exits at once.
 */
export type Closer = { name: string; close: () => Promise<void> | void };

export class ShutdownManager {
  private readonly closers: Closer[] = [];
  private shuttingDown: Promise<void> | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly timeoutMs: number,
  ) {}

  /** Registers a closer; later registrations close first. */
  add(name: string, close: Closer['close']): void {
    this.closers.push({ name, close });
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown !== undefined;
  }

  /** Runs every closer once (later calls return the same promise). */
  shutdown(reason: string): Promise<void> {
    this.shuttingDown ??= this.run(reason);
    return this.shuttingDown;
  }

  private async run(reason: string): Promise<void> {
    this.logger.info({ reason }, 'shutting down');
    for (const closer of [...this.closers].reverse()) {
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(closer.close),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
          }),
        ]);
        this.logger.debug({ closer: closer.name, ms: Date.now() - started }, 'closed');
      } catch (err) {
        this.logger.warn({ closer: closer.name, err }, 'close failed');
      } finally {
        clearTimeout(timer);
      }
    }
    this.logger.info('shutdown complete');
  }

  /** Traps SIGINT and SIGTERM: shut down, then exit 0 (1 if shutdown itself threw). */
  installSignalHandlers(): void {
    const onSignal = (signal: NodeJS.Signals) => {
      if (this.isShuttingDown) {
        this.logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      this.shutdown(signal).then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
}

// Upstream error log lines, at most a budget per second: an upstream outage fails every
// request, and a line per request would turn the outage into a logging outage too. The
// lines over budget are counted and summarised in one line when the next second starts.
import type { Logger } from '../common/logger.js';

export class ErrorLogLimiter {
  private window = 0;
  private inWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs a warning unless this second's budget is spent. */
  warn(message: string, fields: Record<string, unknown>): void {
    const second = Math.floor(this.now() / 1000);
    if (second !== this.window) {
      if (this.suppressed > 0)
        this.logger.warn('upstream error log lines suppressed', { suppressed: this.suppressed });
      this.window = second;
      this.inWindow = 0;
      this.suppressed = 0;
    }
    if (this.inWindow >= this.perSecond) {
      this.suppressed += 1;
      return;
    }
    this.inWindow += 1;
    this.logger.warn(message, fields);
  }
}

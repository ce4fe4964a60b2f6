/**
 * progress: a plain progress bar on stderr for long work (`sig audit --full`). Drawn only when stderr
 * is a terminal; otherwise silent, so logs and --json output stay clean.
 */

/** Progress draws `label [#####.....] done/total`. */
export class Progress {
  private done = 0;
  private lastDraw = 0;
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    enabled = true,
  ) {
    this.tty = enabled && Boolean(process.stderr.isTTY);
  }

  /** tick adds n units and redraws at most ten times a second. */
  tick(n = 1): void {
    this.done += n;
    const now = Date.now();
    if (this.tty && (now - this.lastDraw > 100 || this.done >= this.total)) {
      this.lastDraw = now;
      const width = 30;
      const filled = this.total === 0 ? width : Math.round((this.done / this.total) * width);
      process.stderr.write(
        `\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total}`,
      );
    }
  }

  /** finish ends the line. */
  finish(): void {
    if (this.tty) process.stderr.write('\n');
  }
}

/**
 * @file Progress display of the CLI on stderr. On a TTY: one bar redrawn in place
 * (`[██████░░░░░░] 5/13  38%  ETA 6s  images`); otherwise (CI logs, pipes): a plain line each time
 * the status, phase or number of images done changes, never control characters.
 */
import type { Writable } from 'node:stream';

export interface ProgressState {
  status: string;
  phase: string;
  done: number;
  total: number;
  eta: number | null;
}

export class ProgressBar {
  private last = '';
  private drawn = false;

  constructor(private readonly out: Writable & { isTTY?: boolean; columns?: number }, private readonly width = 28) {}

  get tty(): boolean {
    return this.out.isTTY === true;
  }

  update(s: ProgressState): void {
    const pct = s.total > 0 ? Math.floor((100 * s.done) / s.total) : 0;
    const eta = s.eta === null ? '' : `ETA ${formatSeconds(s.eta)}`;
    if (this.tty) {
      const fill = s.total > 0 ? Math.round((this.width * s.done) / s.total) : 0;
      const bar = `[${'█'.repeat(fill)}${'░'.repeat(this.width - fill)}]`;
      const line = `${bar} ${s.done}/${s.total} ${String(pct).padStart(3)}%  ${eta.padEnd(10)} ${s.status === 'running' ? s.phase : s.status}`;
      this.out.write(`\r\x1b[2K${line.slice(0, (this.out.columns ?? 120) - 1)}`);
      this.drawn = true;
      return;
    }
    const key = `${s.status}|${s.phase}|${s.done}`;
    if (key === this.last) return;
    this.last = key;
    this.out.write(`progress: ${s.status}${s.status === 'running' ? ` (${s.phase})` : ''} ${s.done}/${s.total} images (${pct}%)${eta ? `, ${eta}` : ''}\n`);
  }

  /** Ends the bar's line (TTY). */
  end(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

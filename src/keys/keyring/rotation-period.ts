/**
 * @module keys/keyring/rotation-period
 * Parses rotation periods such as `23h`, `7d`, `30d`, `90d`.
 */
import { InvalidArgumentError } from '../../util/errors.js';

const UNITS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const MIN_PERIOD_MS = 60 * 60_000;
const MAX_PERIOD_MS = 10 * 365 * 86_400_000;

/** Milliseconds for a period like `7d`; throws `FX_INVALID_ARGUMENT` (periods from 1h to 10 years). */
export function parseRotationPeriod(period: string): number {
  const match = typeof period === 'string' ? /^(\d{1,6})([mhdw])$/.exec(period.trim()) : null;
  if (match === null) {
    throw new InvalidArgumentError(
      'rotationPeriod',
      'expected a number and a unit m, h, d or w, e.g. "23h", "7d", "90d"',
    );
  }
  const ms = Number(match[1]) * UNITS[match[2]!]!;
  if (ms < MIN_PERIOD_MS || ms > MAX_PERIOD_MS) {
    throw new InvalidArgumentError('rotationPeriod', 'must be between 1 hour and 10 years');
  }
  return ms;
}

/** The shortest way to write `ms` as a period (`7d`, `23h`, `90m`). */
export function formatRotationPeriod(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm'] as const) {
    const size = UNITS[unit]!;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms / 60_000)}m`;
}

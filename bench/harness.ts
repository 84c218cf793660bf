/**
 * @module bench/harness
 * Measuring on a shared 2-core machine: absolute rates drift by ±30% between runs, so every
 * figure is measured beside its baseline in interleaved rounds, and ratios are the median of the
 * per-round ratios (each round's pair ran seconds apart, under the same load).
 */
import os from 'node:os';

export interface RateStats {
  /** Median operations per second over the rounds. */
  readonly opsPerSec: number;
  /** Each round's ops/s. */
  readonly rounds: readonly number[];
}

export interface Comparison {
  readonly subject: RateStats;
  readonly baseline: RateStats;
  /** Median over rounds of subject/baseline. */
  readonly ratio: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Runs `fn` repeatedly for about `ms` milliseconds (after a short warm-up) and returns ops/s. */
export function rate(fn: () => void, ms: number): number {
  const warmUntil = performance.now() + Math.min(50, ms / 4);
  while (performance.now() < warmUntil) fn();
  let ops = 0;
  let batch = 16;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    elapsed = performance.now() - start;
    if (elapsed < ms / 20) batch *= 2;
  }
  return (ops / elapsed) * 1000;
}

/** Interleaves subject and baseline for `rounds` rounds of `ms` each. */
export function compare(subject: () => void, baseline: () => void, rounds: number, ms: number): Comparison {
  const s: number[] = [];
  const b: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < rounds; i++) {
    // Alternate the order so neither side always runs right after a GC-heavy phase.
    if (i % 2 === 0) {
      b.push(rate(baseline, ms));
      s.push(rate(subject, ms));
    } else {
      s.push(rate(subject, ms));
      b.push(rate(baseline, ms));
    }
    ratios.push(s[i]! / b[i]!);
  }
  return {
    subject: { opsPerSec: Math.round(median(s)), rounds: s.map(Math.round) },
    baseline: { opsPerSec: Math.round(median(b)), rounds: b.map(Math.round) },
    ratio: round(median(ratios), 3),
  };
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** One line on stderr so a person watching sees progress; stdout stays pure JSON. */
export function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** The machine a report was measured on. */
export function machineInfo(): { cores: number; cpu: string; node: string } {
  const cpus = os.cpus();
  return { cores: cpus.length, cpu: cpus[0]?.model ?? 'unknown', node: process.version };
}

/** A target's line in a report: the value, the target, and whether it was met. */
export function target(
  value: number,
  goal: number,
  atMost = false,
): { value: number; target: number; met: boolean } {
  return { value, target: goal, met: atMost ? value <= goal : value >= goal };
}

/** Throughput and latency of one timed run. */
export interface Latency {
  opsPerSec: number;
  p50Us: number;
  p99Us: number;
}

/** Runs `op` for about `ms` (after a short warm-up), timing each call. */
export async function measure(op: (i: number) => unknown, ms: number): Promise<Latency> {
  const warm = performance.now() + Math.min(100, ms / 5);
  let i = 0;
  while (performance.now() < warm) await op(i++);
  const samples: number[] = [];
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    const t0 = now;
    await op(i++);
    now = performance.now();
    samples.push(now - t0);
  }
  samples.sort((a, b) => a - b);
  return {
    opsPerSec: Math.round((samples.length / (now - start)) * 1000),
    p50Us: round(samples[Math.floor(samples.length * 0.5)]! * 1000, 1),
    p99Us: round(samples[Math.floor(samples.length * 0.99)]! * 1000, 1),
  };
}

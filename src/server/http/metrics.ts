/**
 * @module server/http/metrics
 * Prometheus metrics (`prom-client`) at `/v1/sys/metrics`: request rate and latency per route
 * pattern (never the URL itself: a path can hold a row key), seal state, key versions in use,
 * re-encryption progress and the audit ledger's size and the lag of its last checkpoint. Nothing
 * here carries a token, a value or a name a caller supplied beyond route patterns.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ServerContext } from '../server-context.js';

export class ServerMetrics {
  readonly registry: Registry = new Registry();
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly duration: Histogram<'method' | 'route'>;

  constructor(ctx: ServerContext) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'fortress_process_' });
    this.requests = new Counter({
      name: 'fortress_http_requests_total',
      help: 'HTTP requests by method, route pattern and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    });
    this.duration = new Histogram({
      name: 'fortress_http_request_duration_seconds',
      help: 'HTTP request latency by method and route pattern',
      labelNames: ['method', 'route'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    new Gauge({
      name: 'fortress_sealed',
      help: '1 when sealed (or not initialised), 0 when unsealed',
      registers,
      collect() {
        this.set(ctx.status().sealed ? 1 : 0);
      },
    });
    new Gauge({
      name: 'fortress_key_versions',
      help: 'Key versions by state (active, decrypt-only, retired, destroyed)',
      labelNames: ['state'] as const,
      registers,
      async collect() {
        this.reset();
        const status = ctx.status();
        if (status.sealed) return;
        const keys = ctx.unsealed().keys;
        const counts = new Map<string, number>();
        for (const key of keys.listKeys()) {
          for (const v of await keys.listVersions(key.name))
            counts.set(v.state, (counts.get(v.state) ?? 0) + 1);
        }
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'fortress_reencryption_progress_ratio',
      help: 'Progress (0-1) of each running background job',
      labelNames: ['job', 'kind'] as const,
      registers,
      collect() {
        this.reset();
        if (ctx.status().sealed) return;
        for (const job of ctx.unsealed().jobs()) {
          if (job.state !== 'running') continue;
          this.set({ job: String(job.id), kind: job.kind }, job.percent / 100);
        }
      },
    });
    new Gauge({
      name: 'fortress_audit_entries',
      help: 'Entries in the audit ledger',
      registers,
      collect() {
        if (ctx.status().sealed) return;
        this.set(ctx.unsealed().audit.size);
      },
    });
    new Gauge({
      name: 'fortress_audit_unsigned_entries',
      help: 'Audit lag: entries appended since the latest signed checkpoint',
      registers,
      async collect() {
        if (ctx.status().sealed) return;
        const audit = ctx.unsealed().audit;
        const latest = await audit.latestCheckpoint();
        this.set(audit.size - (latest?.size ?? 0));
      },
    });
  }
}

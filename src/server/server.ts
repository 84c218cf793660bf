/**
 * @module server/server
 * `fortress server`: the embedded engine as a multi-user HTTPS service. Fastify 5 with TypeBox
 * schemas (strict bodies: unknown fields and wrong types are refused, never coerced), the OpenAPI
 * document at `/v1/openapi.json` and an interactive page at `/docs`, structured JSON logs (pino)
 * that never hold a token, a body or a request path (only route patterns), Prometheus metrics,
 * rate limits per token and per client address, body and time limits, and a graceful shutdown
 * that finishes in-flight requests and then seals.
 *
 * @example
 * ```ts
 * const server = await startServer({ dataDir: './data', host: '127.0.0.1', port: 8200, tls: { cert, key } });
 * console.log(server.url); // https://127.0.0.1:8200
 * await server.close();    // drains, seals, closes the data directory
 * ```
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { DestinationStream } from 'pino';
import { ServerContext, callerOf, type ServerSealOptions } from './server-context.js';
import type { FortressOptions, StorageOption } from '../fortress.js';
import type { JobOptions } from '../engine/jobs/job.js';
import type { JwtLoginOptions } from './auth/jwt-login.js';
import { clientErrorHandler, errorBody, installErrorHandlers } from './http/http-errors.js';
import { ServerMetrics } from './http/metrics.js';
import { RateLimiter } from './http/rate-limiter.js';
import { validatorCompiler } from './http/validator.js';
import { sysRoutes } from './routes/sys-routes.js';
import { authRoutes } from './routes/auth-routes.js';
import { dbRoutes } from './routes/db-routes.js';
import { keysRoutes } from './routes/keys-routes.js';
import { policiesRoutes } from './routes/policies-routes.js';
import { principalsRoutes } from './routes/principals-routes.js';
import { auditRoutes } from './routes/audit-routes.js';
import { kvRoutes } from './routes/kv-routes.js';
import { transitRoutes } from './routes/transit-routes.js';
import { databaseRoutes } from './routes/database-routes.js';
import { VERSION } from './version.js';

export interface ServerOptions {
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  /** PEM certificate and key; null only for --insecure-dev (plain HTTP). `ca`: require client certificates (mTLS). */
  readonly tls: {
    readonly cert: string | Buffer;
    readonly key: string | Buffer;
    readonly ca?: string | Buffer;
  } | null;
  readonly insecureDev?: boolean;
  /** @default 1 MiB */
  readonly bodyLimit?: number;
  /** @default 30 000 */
  readonly requestTimeoutMs?: number;
  /** Requests per minute. @default 6000 per token, 12000 per address */
  readonly rateLimit?: { readonly perToken: number; readonly perAddress: number };
  /** @default 24 h and 30 days */
  readonly tokenTtlSeconds?: number;
  readonly tokenMaxTtlSeconds?: number;
  /** @default 'info' */
  readonly logLevel?: string;
  /** Where logs go. @default stdout */
  readonly logStream?: DestinationStream;
  readonly onWarning?: (message: string) => void;
  /** JWT login (`POST /v1/auth/jwt/login`) against an identity provider's JWKS. */
  readonly jwt?: JwtLoginOptions;
  /** The configured seal: init's defaults, and the HSM that unseals a PKCS#11 seal at start. */
  readonly seal?: ServerSealOptions;
  /** Where the data lives. @default SQLite in the data directory */
  readonly storage?: StorageOption;
  /** Background-job batch size and throttle. */
  readonly jobs?: JobOptions;
  /** The secrets engines' settings (the database sweeper's interval). */
  readonly secrets?: FortressOptions['secrets'];
}

export interface RunningServer {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly context: ServerContext;
  /** Stops accepting connections, finishes in-flight requests, seals and closes the data directory. */
  close(): Promise<void>;
}

/** Log levels at which the request line names the caller. */
const DETAILED: ReadonlySet<string> = new Set(['debug', 'trace']);

/** Headers whose values never reach a log line. */
const REDACT = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'];

export async function buildServer(
  options: ServerOptions,
): Promise<{ app: FastifyInstance; context: ServerContext }> {
  const context = new ServerContext({
    dataDir: options.dataDir,
    tokenTtlSeconds: options.tokenTtlSeconds ?? 86_400,
    tokenMaxTtlSeconds: options.tokenMaxTtlSeconds ?? 30 * 86_400,
    insecureDev: options.insecureDev ?? false,
    onWarning:
      options.onWarning ??
      ((m) => {
        process.emitWarning(m, 'FortressWarning');
      }),
    ...(options.jwt === undefined ? {} : { jwt: options.jwt }),
    ...(options.seal === undefined ? {} : { seal: options.seal }),
    ...(options.storage === undefined ? {} : { storage: options.storage }),
    ...(options.jobs === undefined ? {} : { jobs: options.jobs }),
    ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
  });
  await context.start();

  const logger: FastifyServerOptions['logger'] =
    options.logLevel === 'silent'
      ? false
      : {
          level: options.logLevel ?? 'info',
          redact: { paths: REDACT, censor: '[redacted]' },
          ...(options.logStream === undefined ? {} : { stream: options.logStream }),
        };
  const app = Fastify({
    ...(options.tls === null
      ? {}
      : {
          https: {
            cert: options.tls.cert,
            key: options.tls.key,
            ...(options.tls.ca === undefined
              ? {}
              : { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true }),
          },
        }),
    logger,
    // Fastify's own request lines would carry the URL; ours (onResponse) carry the route pattern.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    connectionTimeout: options.requestTimeoutMs ?? 30_000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 1024 },
    clientErrorHandler,
  });
  app.setValidatorCompiler(validatorCompiler);
  installErrorHandlers(app);
  // Streamed bodies (table import, transit rewrap-stream): handed to the route as the raw stream,
  // parsed there line by line, never buffered whole.
  app.addContentTypeParser(['application/x-ndjson', 'text/csv'], (_request, payload, done) => {
    done(null, payload);
  });

  const metrics = new ServerMetrics(context);
  // Rate limits per token (a digest of the header, never the token) and per client address.
  // Synchronous and callback-style: this runs on every request, before anything else.
  const limiter = new RateLimiter(options.rateLimit ?? { perToken: 6000, perAddress: 12000 });
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    if (request.routeOptions.config.rateLimit !== false) {
      const wait = limiter.hit(limiter.keyOf(request.headers.authorization, request.ip));
      if (wait > 0) {
        void reply
          .status(429)
          .header('retry-after', String(wait))
          .send(errorBody('FX_RATE_LIMITED', `too many requests; retry in ${wait} s`, request.id));
        return;
      }
    }
    done();
  });
  if (context.clustered) {
    // One node of several on one database: before a request is authenticated or served, reload
    // whatever another node changed (a revoked token, a rotated key, a new policy). Concurrent
    // requests share one generation read.
    app.addHook('preHandler', async () => {
      await context.syncCluster();
    });
  }
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.duration.observe({ method: request.method, route }, seconds);
    // The route pattern, never the URL: a path may hold a row key.
    const line = {
      method: request.method,
      route,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (DETAILED.has(request.log.level)) {
      // Debug adds who called and from where: a token's accessor (it cannot authenticate), the
      // principal, the client address and the request's size — still no URL, body or token.
      request.log.debug(
        {
          ...line,
          ...callerOf(request),
          client: request.ip,
          requestBytes: Number(request.headers['content-length'] ?? 0),
        },
        'request',
      );
    } else request.log.info(line, 'request');
    done();
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Fortress',
        version: VERSION,
        description:
          'The Fortress HTTP API. Every request but health, status, init, unseal and login carries `Authorization: Bearer <token>`. Errors are `{ error: { code, message, requestId } }` with a stable FX_… code.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  sysRoutes(app, context);
  authRoutes(app, context);
  dbRoutes(app, context);
  keysRoutes(app, context);
  policiesRoutes(app, context);
  principalsRoutes(app, context);
  auditRoutes(app, context);
  kvRoutes(app, context);
  transitRoutes(app, context);
  databaseRoutes(app, context);
  app.get('/v1/openapi.json', { schema: { hide: true } }, () => Promise.resolve(app.swagger()));
  app.get(
    '/v1/sys/metrics',
    { schema: { hide: true }, config: { rateLimit: false } },
    async (_request, reply) => {
      void reply.header('content-type', metrics.registry.contentType);
      return reply.send(await metrics.registry.metrics());
    },
  );
  await app.ready();
  return { app, context };
}

/** Builds the server and listens; resolves once it accepts connections. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { app, context } = await buildServer(options);
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    await app.close();
    await context.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `${options.tls === null ? 'http' : 'https'}://${host}:${port}`;
  let closing: Promise<void> | null = null;
  return {
    url,
    app,
    context,
    close() {
      closing ??= (async () => {
        await app.close(); // stops accepting; waits for in-flight requests
        await context.close(); // seals (keys zeroed) and closes the data directory
      })();
      return closing;
    },
  };
}

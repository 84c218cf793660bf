/**
 * @module client/api/policies-api
 * `client.policies`: the Cedar policies in force (list, read, put, remove, add several at once) and
 * the tools around them — validate, lint, explain a decision, run test cases. The tools change
 * nothing, so they are retried like GETs.
 */
import { expectObject, path, type HttpTransport } from '../http-transport.js';
import type { JsonObject } from '../client-types.js';

export class PoliciesApi {
  readonly #http: HttpTransport;

  /** @internal */
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  async list(): Promise<JsonObject> {
    return expectObject(await this.#http.request({ method: 'GET', path: '/v1/policies' }), 'policies.list');
  }

  async get(id: string): Promise<JsonObject> {
    const body = await this.#http.request({ method: 'GET', path: path`/v1/policies/${id}` });
    return expectObject(body, 'policies.get');
  }

  /**
   * Adds a policy (or, with `replace`, changes one); it is validated with the whole set first.
   *
   * @example
   * ```ts
   * await client.policies.put(
   *   'analysts-read',
   *   'permit (principal in Fortress::Role::"default/analyst", action == Fortress::Action::"read", resource);',
   * );
   * ```
   */
  async put(id: string, text: string, options: { readonly replace?: boolean } = {}): Promise<void> {
    await this.#http.request({
      method: 'PUT',
      path: path`/v1/policies/${id}`,
      body: { text, ...(options.replace === undefined ? {} : { replace: options.replace }) },
    });
  }

  async remove(id: string): Promise<void> {
    await this.#http.request({ method: 'DELETE', path: path`/v1/policies/${id}` });
  }

  /** Adds several policies at once (id → Cedar text), validated as one set: all or none. */
  async addMany(policies: Readonly<Record<string, string>>): Promise<void> {
    await this.#http.request({ method: 'POST', path: '/v1/policies', body: { policies } });
  }

  /**
   * Checks policies against the schema and the policies in force, changing nothing: a record of
   * id → Cedar text, or the text of a policy file.
   */
  async validate(policiesOrFile: Readonly<Record<string, string>> | string): Promise<JsonObject> {
    const body = await this.#http.request({
      method: 'POST',
      path: '/v1/policies/validate',
      body: typeof policiesOrFile === 'string' ? { file: policiesOrFile } : { policies: policiesOrFile },
      safe: true,
    });
    return expectObject(body, 'policies.validate');
  }

  /** Findings about the policies (permits shadowed or contradicted by forbids); with none given, those in force. */
  async lint(policies?: Readonly<Record<string, string>>): Promise<JsonObject> {
    const body = await this.#http.request({
      method: 'POST',
      path: '/v1/policies/lint',
      ...(policies === undefined ? {} : { body: { policies } }),
      safe: true,
    });
    return expectObject(body, 'policies.lint');
  }

  /** The decision on a request and the policies that made it. */
  async explain(request: JsonObject): Promise<JsonObject> {
    const body = await this.#http.request({
      method: 'POST',
      path: '/v1/policies/explain',
      body: request,
      safe: true,
    });
    return expectObject(body, 'policies.explain');
  }

  /**
   * Runs test cases (`{ name, principal, action, resource, context?, expect }`, or the text of a
   * test file) against the policies in force, or against these instead (`with`).
   */
  async test(
    cases: readonly JsonObject[] | string,
    withPolicies?: Readonly<Record<string, string>>,
  ): Promise<JsonObject> {
    const body = await this.#http.request({
      method: 'POST',
      path: '/v1/policies/test',
      body: {
        ...(typeof cases === 'string' ? { file: cases } : { cases }),
        ...(withPolicies === undefined ? {} : { with: withPolicies }),
      },
      safe: true,
    });
    return expectObject(body, 'policies.test');
  }
}

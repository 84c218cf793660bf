/**
 * An in-memory Cedar entity source for authorizer tests: entities by reference, and for a request
 * the principal and the resource with all their ancestors (as `db.access` supplies them).
 */
import type { CedarEntity, EntityRef, EntitySource } from '../../src/policy/authorizer/authorizer.js';

export class CedarWorld implements EntitySource {
  readonly byId = new Map<string, CedarEntity>();

  constructor(entities: readonly CedarEntity[] = []) {
    for (const e of entities) this.add(e);
  }

  add(e: CedarEntity): this {
    this.byId.set(`${e.uid.type}::${e.uid.id}`, e);
    return this;
  }

  entities(principal: EntityRef, resource: EntityRef): CedarEntity[] {
    const out = new Map<string, CedarEntity>();
    const walk = (ref: EntityRef): void => {
      const key = `${ref.type}::${ref.id}`;
      const e = this.byId.get(key);
      if (e === undefined || out.has(key)) return;
      out.set(key, e);
      for (const p of e.parents) walk(p);
    };
    walk(principal);
    walk(resource);
    return [...out.values()];
  }
}

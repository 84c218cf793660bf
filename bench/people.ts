/**
 * @module bench/people
 * The benchmarks' `people(id, email, ssn, name, age, notes)` table — email, ssn, name and notes
 * encrypted, email searchable — and its row generator, shared by the engine, million-row and audit
 * suites so they measure the same data.
 */
import { randomUUID } from 'node:crypto';

export const PEOPLE_COLUMNS = {
  id: { type: 'uuid', primaryKey: true },
  email: { type: 'text', encrypt: { search: 'equality' } },
  ssn: { type: 'text', encrypt: true },
  name: { type: 'text', encrypt: true },
  age: { type: 'integer' },
  notes: { type: 'text', encrypt: true },
} as const;

/** Row `i`'s values (without the key: the engine generates it unless the caller sets one). */
export function personValues(i: number): {
  email: string;
  ssn: string;
  name: string;
  age: number;
  notes: string;
} {
  return {
    email: `user${i}@example.com`,
    ssn: `${String(100 + (i % 900)).padStart(3, '0')}-${String(i % 100).padStart(2, '0')}-${String(i % 10000).padStart(4, '0')}`,
    name: `Person Number ${i}`,
    age: 18 + (i % 80),
    notes: `Seen on visit ${i % 17}; follow-up in ${i % 12} weeks. Allergies: none known.`,
  };
}

/**
 * Seeds `rows` people with random uuid keys, 1,000 per `post` call (one HTTP insertMany each);
 * returns the keys in order.
 */
export async function seedPeople(
  rows: number,
  post: (batch: Record<string, unknown>[]) => Promise<unknown>,
): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < rows; start += 1000) {
    const batch: Record<string, unknown>[] = [];
    for (let i = start; i < Math.min(rows, start + 1000); i++) {
      const id = randomUUID();
      ids.push(id);
      batch.push({ id, ...personValues(i) });
    }
    await post(batch);
  }
  return ids;
}

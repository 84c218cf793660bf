/**
 * @module audit/ledger/ledger-schema
 * The ledger's tables, in the same database as the data they describe (one file is one consistent
 * unit, and a data write and its entry commit in one transaction):
 *
 * - `fx_audit_entries`: one row per entry: `seq` (the leaf index), the canonical entry bytes, and
 *   copies of a few fields for `tail`/`search` (verify checks that they match the entry);
 * - `fx_audit_nodes`: every complete Merkle subtree hash by (level, index) — level 0 are the leaf
 *   hashes — so proofs read O(log n) rows and restarts resume from the stored right edge;
 * - `fx_audit_checkpoints`: every signed checkpoint by tree size;
 * - `fx_audit_segments`: entries archived to signed segment files and pruned from the hot store;
 * - `fx_audit_state`: the origin, how far the tree is stored, and how many entries were archived;
 * - `fx_audit_staged`: where writers run concurrently (PostgreSQL), entries written inside a
 *   caller's transaction wait here — committed with the data they describe — until the sequencer
 *   numbers them into `fx_audit_entries` (see audit-ledger.ts).
 */
import type { SqlSpelling } from '../../storage/dialect.js';

/** The ledger's tables, in the backend's words (see `SqlSpelling`). */
export function ledgerDdl(s: SqlSpelling): string {
  return `
CREATE TABLE IF NOT EXISTS fx_audit_entries (
  seq ${s.int64} PRIMARY KEY,
  time ${s.int64} NOT NULL,
  principal ${s.text} NOT NULL,
  action ${s.text} NOT NULL,
  resource ${s.text} NOT NULL,
  decision ${s.text} NOT NULL,
  outcome ${s.text} NOT NULL,
  entry ${s.bytes} NOT NULL
);
CREATE TABLE IF NOT EXISTS fx_audit_nodes (
  level ${s.int64} NOT NULL,
  idx ${s.int64} NOT NULL,
  hash ${s.bytes} NOT NULL,
  PRIMARY KEY (level, idx)
)${s.withoutRowid};
CREATE TABLE IF NOT EXISTS fx_audit_checkpoints (
  size ${s.int64} PRIMARY KEY,
  time ${s.int64} NOT NULL,
  note ${s.text} NOT NULL
);
CREATE TABLE IF NOT EXISTS fx_audit_segments (
  first ${s.int64} PRIMARY KEY,
  count ${s.int64} NOT NULL,
  file ${s.text} NOT NULL,
  sha256 ${s.text} NOT NULL,
  time ${s.int64} NOT NULL
);
CREATE TABLE IF NOT EXISTS fx_audit_state (
  id ${s.int64} PRIMARY KEY CHECK (id = 1),
  origin ${s.text} NOT NULL,
  tree_size ${s.int64} NOT NULL,
  archived ${s.int64} NOT NULL
);
CREATE TABLE IF NOT EXISTS fx_audit_staged (
  id ${s.autoId},
  time ${s.int64} NOT NULL,
  entry ${s.bytes} NOT NULL
);
`;
}

export const SQL = {
  insertEntry:
    'INSERT INTO fx_audit_entries (seq, time, principal, action, resource, decision, outcome, entry) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  maxSeq: 'SELECT max(seq) AS m FROM fx_audit_entries',
  /**
   * The state row, locked until the transaction ends: one appender at a time across every process
   * sharing the database. At READ COMMITTED the row returned is the latest committed version.
   */
  lockState: 'SELECT origin, tree_size, archived FROM fx_audit_state WHERE id = 1 FOR UPDATE',
  stageEntry: 'INSERT INTO fx_audit_staged (time, entry) VALUES (?, ?)',
  /** The oldest staged entries, removed as they are taken (they move into the log in the same transaction). */
  takeStaged:
    'DELETE FROM fx_audit_staged WHERE id IN (SELECT id FROM fx_audit_staged ORDER BY id LIMIT ?) RETURNING id, time, entry',
  anyStaged: 'SELECT id FROM fx_audit_staged LIMIT 1',
  entry: 'SELECT seq, entry FROM fx_audit_entries WHERE seq = ?',
  insertNode:
    'INSERT INTO fx_audit_nodes (level, idx, hash) VALUES (?, ?, ?) ON CONFLICT (level, idx) DO UPDATE SET hash = excluded.hash',
  node: 'SELECT hash FROM fx_audit_nodes WHERE level = ? AND idx = ?',
  nodesOfLevel: 'SELECT idx, hash FROM fx_audit_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx',
  state: 'SELECT origin, tree_size, archived FROM fx_audit_state WHERE id = 1',
  insertState: 'INSERT INTO fx_audit_state (id, origin, tree_size, archived) VALUES (1, ?, 0, 0)',
  setTreeSize: 'UPDATE fx_audit_state SET tree_size = ? WHERE id = 1',
  setArchived: 'UPDATE fx_audit_state SET archived = ? WHERE id = 1',
  lastCheckpoint: 'SELECT size, time, note FROM fx_audit_checkpoints ORDER BY size DESC LIMIT 1',
  checkpointAt: 'SELECT size, time, note FROM fx_audit_checkpoints WHERE size = ?',
  checkpoints: 'SELECT size, time, note FROM fx_audit_checkpoints ORDER BY size',
  insertCheckpoint: 'INSERT INTO fx_audit_checkpoints (size, time, note) VALUES (?, ?, ?)',
  entriesRange: 'SELECT seq, entry FROM fx_audit_entries WHERE seq >= ? AND seq < ? ORDER BY seq',
  deleteThrough: 'DELETE FROM fx_audit_entries WHERE seq < ?',
  insertSegment: 'INSERT INTO fx_audit_segments (first, count, file, sha256, time) VALUES (?, ?, ?, ?, ?)',
  segments: 'SELECT first, count, file, sha256, time FROM fx_audit_segments ORDER BY first',
} as const;

export interface StateRow {
  readonly origin: string;
  readonly tree_size: number;
  readonly archived: number;
}

export interface StagedRow {
  readonly id: number;
  readonly time: number;
  readonly entry: unknown;
}

export interface CheckpointRow {
  readonly size: number;
  readonly time: number;
  readonly note: string;
}

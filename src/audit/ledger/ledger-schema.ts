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
 * - `fx_audit_state`: the origin, how far the tree is stored, and how many entries were archived.
 */
export const LEDGER_DDL = `
CREATE TABLE IF NOT EXISTS fx_audit_entries (
  seq INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  principal TEXT NOT NULL,
  action TEXT NOT NULL,
  resource TEXT NOT NULL,
  decision TEXT NOT NULL,
  outcome TEXT NOT NULL,
  entry BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS fx_audit_nodes (
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fx_audit_checkpoints (
  size INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  note TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fx_audit_segments (
  first INTEGER PRIMARY KEY,
  count INTEGER NOT NULL,
  file TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  time INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fx_audit_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  origin TEXT NOT NULL,
  tree_size INTEGER NOT NULL,
  archived INTEGER NOT NULL
);
`;

export const SQL = {
  insertEntry:
    'INSERT INTO fx_audit_entries (seq, time, principal, action, resource, decision, outcome, entry) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  maxSeq: 'SELECT max(seq) AS m FROM fx_audit_entries',
  entry: 'SELECT seq, entry FROM fx_audit_entries WHERE seq = ?',
  insertNode: 'INSERT OR REPLACE INTO fx_audit_nodes (level, idx, hash) VALUES (?, ?, ?)',
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

export interface CheckpointRow {
  readonly size: number;
  readonly time: number;
  readonly note: string;
}

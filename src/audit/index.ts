/**
 * @module audit
 * `fortress/audit`: the audit ledger's formats and verification, usable without a Fortress
 * database — what an auditor's own tooling needs to check evidence Fortress produced: entries
 * (canonical JSON), RFC 6962 proofs, C2SP signed notes, checkpoints and tlog-proof files, segment
 * files, tlog-tiles paths, and offline verification of a ledger. The ledger itself is reached
 * through `db.audit` (see `Fortress`).
 *
 * @example
 * ```ts
 * import { openTlogProof, noteVerifierFromKey, verifyInclusion, hashLeaf } from 'fortress/audit';
 * const proof = openTlogProof(fileText, [noteVerifierFromKey(pinnedVkey)]);
 * verifyInclusion(hashLeaf(proof.extra!), proof.index, proof.checkpoint.size, proof.proof, proof.checkpoint.rootHash);
 * ```
 */
export {
  AUDIT_ENTRY_VERSION,
  decodeAuditEntry,
  encodeAuditEntry,
  type AuditDecision,
  type AuditEntry,
  type AuditOutcome,
  type AuditPrincipal,
  type AuditRecord,
  type AuditResource,
} from './entry/audit-entry.js';
export { canonicalJson } from './entry/canonical-json.js';
export * from './merkle/index.js';
export * from './note/index.js';
export { openSegment, SEGMENT_HEADER, type OpenedSegment } from './segment/segment-file.js';
export {
  bundlePath,
  tileIndexPath,
  tilePath,
  tilesOf,
  TILE_WIDTH,
  type TileRef,
} from './tiles/tile-layout.js';
export {
  verifyLedger,
  assertVerified,
  type VerifyOptions,
  type VerifyProblem,
  type VerifyReport,
} from './verify/ledger-verifier.js';
export { verifySegments } from './verify/segment-verifier.js';
export type { AuditQuery, InclusionEvidence, StoredCheckpoint } from './ledger/audit-ledger.js';

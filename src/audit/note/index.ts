/**
 * @module audit/note
 * The C2SP text formats the audit ledger publishes: signed notes (c2sp.org/signed-note), tlog
 * checkpoints (c2sp.org/tlog-checkpoint) and tlog-proof files (c2sp.org/tlog-proof), byte-compatible
 * with Go's golang.org/x/mod/sumdb/note so that third-party tools can check them.
 *
 * @example
 * ```ts
 * import { ed25519NoteSigner, signCheckpoint, openCheckpoint } from './audit/note/index.js';
 * const signer = ed25519NoteSigner('audit.example.com/ledger', key);
 * const note = signCheckpoint({ origin: 'audit.example.com/ledger', size, rootHash }, [signer]);
 * openCheckpoint(note, [signer.verifier()]).checkpoint.size; // size
 * ```
 */
export {
  ed25519NoteSigner,
  ed25519NoteVerifier,
  formatVerifierKey,
  keyIdHex,
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  mlDsa65NoteSigner,
  mlDsa65NoteVerifier,
  noteKeyId,
  noteVerifierFromKey,
  openNote,
  parseVerifierKey,
  signNote,
  type NoteKeyRef,
  type NoteSignatureAlgorithm,
  type NoteSigner,
  type NoteVerifier,
  type OpenedNote,
  type StandardNoteSigner,
  type StandardNoteVerifier,
  type VerifierKey,
} from './signed-note.js';
export {
  CHECKPOINT_HASH_BYTES,
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  type Checkpoint,
  type OpenCheckpointOptions,
  type OpenedCheckpoint,
  type ParsedCheckpoint,
} from './checkpoint.js';
export {
  formatTlogProof,
  MAX_TLOG_PROOF_BYTES,
  MAX_TLOG_PROOF_EXTRA_BYTES,
  MAX_TLOG_PROOF_HASHES,
  openTlogProof,
  parseTlogProof,
  TLOG_PROOF_HEADER,
  type OpenedTlogProof,
  type TlogProof,
} from './tlog-proof.js';

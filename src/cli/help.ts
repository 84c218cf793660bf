/**
 * @module cli/help
 * The `fortress` usage text, whole (`fortress help`) or for one command (`fortress help transit`,
 * `fortress transit encrypt --help`): the entries of that command from both sections (embedded and
 * against a server), each under its section's preamble, so the answer fits on a screen.
 */

export const USAGE = `Usage: fortress <command> [options]

Commands:
  server [--config FILE] [--data DIR] [--listen HOST:PORT] [--log-level L]
         [--insecure-dev [--tls-disable]] (dev only: dev key file seal; plain HTTP)
         [--tls-cert FILE --tls-key FILE] [--tls-client-ca FILE]
                                  Serve the HTTPS API (a self-signed certificate is made in
                                  DIR/tls unless one is configured); SIGTERM drains and seals.
                                  Settings: TOML file < FORTRESS_* variables < flags
  config check [--config FILE] [flags] [--json]
                                  Validate the server configuration; list every problem
  demo [--data DIR] [--rows N]    Start a dev server (TLS, free port) and run a scripted session
                                  through the SDK: init, unseal, encrypted table, search, a least-
                                  privilege user, rotation, audit verify, seal → 503
  demo --embedded [--data DIR] [--rows N]
                                  The embedded database in one minute: encrypted table, search,
                                  key rotation with re-encryption progress (temporary dir by default)
  selftest [--json]               Run every algorithm's known-answer vectors on this machine
  init [--seal KIND] [--shares N] [--threshold T]
                                  Create the root key and seal it (shamir (default 5/3), passphrase,
                                  pkcs11 --pkcs11-module LIB --pkcs11-token LABEL, dev-key-file);
                                  starts the audit ledger and writes its verifier key audit.vkey
  status [--json]                 Initialised? Which seal? (no unseal needed)
  unseal                          Check the unseal material (shares one at a time, or a passphrase)
  seal                            Seal (embedded mode holds no keys between commands)
  keys list|versions NAME         Show keys / a key's versions
  keys create NAME --purpose kek|data|index|transit [--parent KEK] [--algorithm A] [--rotation 30d]
  keys rotate NAME                New active version; older ones decrypt only
  keys min-version NAME --version V
                                  Versions below V refuse to decrypt (reversible)
  keys destroy NAME --version V | --all
                                  Crypto-shred a version (or every version of a key)
  keys recipient --out FILE       Make a backup recipient key pair (FILE secret, FILE.pub public)
  keys export --to FILE.pub --out BACKUP [--label L]
                                  Encrypted, signed backup of every key (+ BACKUP.signers.json)
  keys import BACKUP --recipient-key FILE --trust SIGNERS.json [--seal KIND …] [--json]
                                  Restore a backup into a NEW data directory, sealed as for init
  audit verify [--key VKEY]... [--from-checkpoint FILE] [--segments DIR] [--json]
                                  Check the whole ledger offline (no unseal): entries, tree,
                                  signed checkpoints. VKEY: a verifier key or a file of them
                                  (default: the local audit.vkey — pin a copy elsewhere).
                                  Exit 1 names the first entry or checkpoint that fails.
  audit verify --segments DIR --key VKEY
                                  Without --data: check archived segment files alone
  audit prove SEQ [--out FILE]    Write entry SEQ's inclusion proof (C2SP tlog-proof)
  audit check-proof FILE --key VKEY [--entry FILE]
                                  Check a proof with no database (exit 1 if it fails)
  audit tail [-n N] [FILTERS] [--json]
                                  The newest N entries (default 20), oldest first
  audit search [FILTERS] [--limit N] [--json]
                                  Entries matching every filter (default limit 1000); FILTERS:
                                  --principal P --action A --resource R --decision allow|deny
                                  --outcome ok|error --since ISO --until ISO --from-seq N
                                  --to-seq N --value V (digested) --digest hmac-sha256:HEX
  audit hash VALUE|-              The digest entries hold for VALUE; "-" reads it from stdin
                                  (first line, before any unseal input) so it stays out of
                                  shell history. --value - does the same for tail and search.
  audit checkpoint                Sign a checkpoint of the log now and print it
  audit archive --before SEQ --out DIR
                                  Move entries below SEQ to a signed segment file in DIR
  audit tiles --out DIR           Write the log as static C2SP tlog-tiles (checkpoint, tiles,
                                  entry bundles) for any tiles client to audit
  access list [--json]            Principals, roles, groups and row filters policies refer to
  access user add|update|remove NAME [--service] [--tenant T] [--clearance LABEL]
                                  [--roles a,b] [--groups g,h]   (--service: a service account)
  access role add|remove NAME [--inherits a,b]    access group add|remove NAME [--roles] [--groups]
  access roles-of NAME [--service] [--tenant T]
                                  Every role held (directly, through groups, by inheritance)
  policy list|show ID|remove ID…  The directory's Cedar policies (changes are audited)
  policy add FILE [--id ID] [--replace]
                                  Add policies: a .cedar file (each policy under @id("…")) or
                                  JSON { "id": "text" }; validated against the schema first
  policy validate FILE…           Check policy files against the Fortress schema (no --data)
  policy lint [FILE…]             Permits shadowed by a forbid, permit/forbid pairs on one scope
                                  (files, or the directory's policies); exit 1 on findings
  policy test FILE [--with POLICIES]…
                                  Run a file of cases (principal, action, resource, context →
                                  allow|deny) against the directory's policies and principals,
                                  with candidate POLICIES laid over them (not stored); exit 1 on
                                  a failing case
  policy explain PRINCIPAL ACTION RESOURCE [--context JSON] [--with POLICIES]
                                  Decide one request and name the deciding policies, e.g.
                                  user:default/ann read table:default/main/patients (exit 1: deny)
  policy template [NAME --role ROLE [--tenant T] [--add [--replace]]]
                                  List templates, print one as a .cedar file, or add it
  bench <suite> [--quick]         Run a benchmark suite and print JSON (suites: crypto, keys,
                                  engine, audit, policy, server, postgres, secrets)
  version | help

Against a server (remote mode: --server URL, or $FORTRESS_ADDR when no --data is given; --ca-cert
FILE or $FORTRESS_CACERT trusts a private CA; the token comes from $FORTRESS_TOKEN or ~/.fortress/token — never a flag;
--json prints JSON instead of aligned tables):
  init [--shares N --threshold T] Initialise the server; prints the unseal shares and root token ONCE
  unseal                          Submit unseal shares, one per line on stdin; shows "2 of 3"
  status | seal                   Server state / seal it (keys zeroed, data routes answer 503)
  rekey start [--shares N --threshold T] | submit --nonce N | status | cancel
                                  New unseal shares (or passphrase) for the same root key: holders
                                  of the current shares each submit theirs (stdin); the new
                                  shares are printed ONCE
  rotate-root start | submit --nonce N | status | cancel
                                  A new root key (every key-encryption key rewrapped), new shares
  login USER [--tenant T]         Password on stdin (hidden on a terminal); saves the token (0600)
  user passwd NAME [--tenant T]   Set a user's password (read from stdin)
  access list | user add|update|remove NAME [--service] [--tenant T] [--clearance LABEL]
                 [--roles a,b] [--groups g,h] | role add|remove NAME [--inherits a,b]
                 | group add|remove NAME [--roles a,b] [--groups g,h] | roles-of NAME [--service]
                                  The principals policies name, as on a data directory
  token create [--ttl S] [--uses N] [--service NAME] | lookup | renew | revoke [ACCESSOR] [--orphan]
  table list | create NAME --schema FILE.json | describe NAME | drop NAME
  table rotate NAME [--detach]    New key versions for a table; waits for the re-encryption job
                                  with a progress bar (job status ID waits for a detached one)
  insert TABLE (--row JSON | --file FILE.ndjson)
  get TABLE KEY [--select a,b]    find TABLE [--where JSON] [--limit N] [--select a,b]
  count TABLE [--where JSON]      update TABLE KEY --set JSON      delete TABLE KEY
  import TABLE FILE [--format ndjson|csv]    export TABLE [--format ndjson|csv] [--out FILE]
                                  Streamed; a progress line on stderr when it is a terminal
  keys list | rotate NAME         policy list | add FILE [--id ID] | remove ID
  keys export --to RECIPIENT.pub --out FILE [--label TEXT]
                                  A backup of every key, encrypted to the recipient and signed
                                  (restore offline: keys import into a new data directory)
  keys config NAME [--min-decryption-version N] [--rotation-period 30d|none]
                                  Retire versions below N / set or turn off scheduled rotation
  audit tail [-n N] | verify      (exit 1 if verification fails)
  kv get PATH [--version N] [--field NAME]
                                  A secret (the latest version, or N); --field prints one value
  kv put|patch PATH KEY=VALUE… | --file FILE.json|- [--cas N]
                                  A new version (patch merges into the current one); VALUE "-"
                                  reads stdin and "@FILE" a file, keeping secrets out of history
  kv delete PATH [--versions 1,2] | undelete|destroy PATH --versions 1,2 | rollback PATH --version N
  kv list [FOLDER/] [--limit N]   The secrets and sub-folders in a folder (every page)
  kv metadata get|delete PATH | put PATH [--max-versions N] [--cas-required true|false]
                                  [--delete-version-after 30d] [--custom KEY=VALUE]…
  kv config [--max-versions N] [--cas-required true|false] [--delete-version-after 30d]
  transit create NAME [--type T] [--exportable] [--derived] [--convergent] [--deletion-allowed]
                 [--auto-rotate 30d]
                                  A named key that never leaves the server (encryption as a
                                  service); T: xchacha20-poly1305 (default), aes-256-gcm,
                                  chacha20-poly1305, aegis-256, hmac, ed25519, ml-dsa-65
  transit read NAME | list [--limit N] | rotate NAME | delete NAME
  transit config NAME [--min-decryption-version N] [--min-encryption-version N]
                 [--deletion-allowed true|false] [--exportable] [--auto-rotate 30d|0]
  transit trim NAME --min-available-version N
                                  Destroy every version below N for good
  transit encrypt NAME [TEXT|-] [--context B64] [--associated-data B64]
                                  Prints the ciphertext; "-" (or no TEXT) encrypts stdin as is
  transit decrypt NAME CIPHERTEXT [--context B64] [--associated-data B64] [--base64]
                                  Writes the plaintext bytes to stdout (or their base64)
  transit rewrap NAME CIPHERTEXT [--context B64] [--associated-data B64]
  transit datakey NAME --plaintext|--wrapped [--bits 128|256|512]
  transit hmac NAME TEXT|- [--algorithm sha2-256|sha2-512]      transit sign NAME TEXT|-
  transit verify NAME TEXT|- (--signature S | --hmac H)   (exit 1 if not valid)
  transit random BYTES [--hex]    transit export NAME TYPE [--version N|latest]
  transit rewrap-job start NAME --table T --column C [--context-column C]
                 [--associated-data-column C] [--batch-size N] [--wait]
                                  Rewrap every older ciphertext of a column to the latest
                                  version, as a resumable job on the server
  transit rewrap-job status ID [--wait] | list [--limit N] | pause ID | resume ID
  transit rewrap-stream NAME [--batch-size N]
                                  Ciphertexts on stdin, one per line; the rewrapped ones on
                                  stdout, line for line (a failed one: empty line, exit 1)
  database config write NAME --connection-url URL --username USER --allowed-roles R1,R2
                 [--max-open N] [--no-verify] [--password-authentication scram-sha-256|password]
                 [--password-length N] [--root-rotation-statement SQL…] [--keep-password]
                                  A PostgreSQL target; the admin password from a hidden
                                  prompt or stdin, stored encrypted
  database config list | read NAME | delete NAME     database rotate-root NAME
  database reset NAME             Close a connection's pooled sessions (the next use reconnects)
  database role write NAME --connection C --creation-statement SQL… [--revocation-statement
                 SQL…] [--renew-statement SQL…] --default-ttl 1h --max-ttl 24h
  database role list | read NAME | delete NAME
  database creds ROLE [--ttl 15m] A new user and password with a lease; revoked on expiry
  database lease list [--role R] | lookup ID | renew ID [--increment 1h] | revoke ID
                 | revoke-prefix PREFIX
  database static-role write NAME --connection C --username USER --rotation-period 24h
                 [--rotation-statement SQL…] | list | read NAME | rotate NAME | delete NAME
  database static-creds NAME      The user and current password of a static role

Embedded commands take --data DIR (default $FORTRESS_DATA or ./fortress-data). Commands that need keys
ask for the unseal material: hidden prompts on a terminal, or one share/passphrase per line on stdin.
They open the directory through the audit ledger: the unseal, every key operation and every read
of the log leave an entry. Only audit verify and audit check-proof work without unsealing.
`;

/** One command's entry in USAGE: its first line and the indented lines that continue it. */
interface Entry {
  readonly lines: readonly string[];
  /** The commands its first line names: "kv get PATH …", or two side by side ("get …   find …"). */
  readonly heads: readonly string[];
}

interface Section {
  /** The lines before the first entry ("Commands:", or the remote mode's explanation). */
  readonly preamble: readonly string[];
  readonly entries: readonly Entry[];
}

const ENTRY_START = /^ {2}[a-z]/;
const CONTINUATION = /^ {3,}\S/;

/** USAGE cut into its two sections (embedded, then against a server) and the closing notes. */
function sections(): { sections: Section[]; notes: string[] } {
  const lines = USAGE.trimEnd().split('\n');
  const found: { preamble: string[]; entries: { lines: string[]; heads: string[] }[] }[] = [];
  const notes: string[] = [];
  let current: (typeof found)[number] | undefined;
  for (const line of lines.slice(1)) {
    if (ENTRY_START.test(line)) {
      current ??= { preamble: [], entries: [] };
      if (!found.includes(current)) found.push(current);
      // Columns are two or more spaces apart: a command, its description, or a second command.
      const heads = line
        .trim()
        .split(/\s{2,}/)
        .filter((part) => /^[a-z]/.test(part));
      current.entries.push({ lines: [line], heads });
    } else if (CONTINUATION.test(line) && current !== undefined && current.entries.length > 0) {
      const entry = current.entries[current.entries.length - 1]!;
      entry.lines.push(line);
      // A command's forms may go on ("| group add|remove NAME …"): they are part of its head.
      const more = line.trim();
      const last = entry.heads.length - 1;
      if (more.startsWith('|') && last >= 0) entry.heads[last] = `${entry.heads[last]!} ${more}`;
    } else if (line.trim() === '') {
      current = undefined;
    } else if (current === undefined || current.entries.length > 0) {
      // A paragraph: the preamble of the next section, or (after the last one) the notes.
      current = { preamble: [line], entries: [] };
      found.push(current);
    } else {
      current.preamble.push(line);
    }
  }
  // A trailing paragraph without entries is the closing notes.
  while (found.length > 0 && found[found.length - 1]!.entries.length === 0) {
    notes.unshift(...found.pop()!.preamble, '');
  }
  return { sections: found, notes: notes.slice(0, -1) };
}

/** Whether `head` ("transit read NAME | list [--limit N]") names `words` ("transit", "list"). */
function names(head: string, words: readonly string[]): boolean {
  const tokens = head.split(/[\s|]+/);
  if (tokens[0] !== words[0]) return false;
  return words.slice(1).every((word) => tokens.slice(1).includes(word));
}

/**
 * Usage for `words` (a command, optionally its subcommand): the entries that name it, each
 * section's preamble above its own. Undefined when no entry names the command.
 */
export function helpFor(words: readonly string[]): string | undefined {
  const { sections: all, notes } = sections();
  const pick = (wanted: readonly string[]): { lines: string[]; embedded: boolean } => {
    const lines: string[] = [];
    let embedded = false;
    all.forEach((section, i) => {
      const entries = section.entries.filter((e) => e.heads.some((h) => names(h, wanted)));
      if (entries.length === 0) return;
      if (lines.length > 0) lines.push('');
      lines.push(...section.preamble, ...entries.flatMap((e) => e.lines));
      if (i === 0) embedded = true;
    });
    return { lines, embedded };
  };
  // A subcommand no entry names (a typo) still shows the whole command.
  let shown = words.slice(0, 2);
  let found = words.length > 1 ? pick(shown) : { lines: [], embedded: false };
  if (found.lines.length === 0) {
    shown = words.slice(0, 1);
    found = pick(shown);
  }
  if (found.lines.length === 0) return undefined;
  // The closing notes are about embedded commands: shown with them only.
  const tail = found.embedded ? ['', ...notes] : [];
  return [`Usage: fortress ${shown.join(' ')} …`, '', ...found.lines, ...tail, ''].join('\n');
}

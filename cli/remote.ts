/**
 * remote: the CLI's conversations with configured servers, each answer verified with log/ and the
 * server's pinned keys (cli/pinned.ts) before anything is believed or kept, within the bounds of
 * cli/client.ts.
 */
import { readFileSync } from 'node:fs';
import { base64Encode, bytesEqual } from '../log/bytes.js';
import { attestationDigest } from '../log/entry.js';
import { isLogError } from '../log/errors.js';
import { ed25519Verifier } from '../log/note.js';
import { type Attestation, fingerprintHex, readPublicKey } from '../log/signet.js';
import { CLIENT_LIMITS, type Deadline, type RawReceipt, SigClient } from './client.js';
import {
  DEFAULT_MAX_AGE_SECONDS,
  isServerName,
  normalizeFingerprint,
  SERVER_NAME_RULE,
  type ServerEntry,
  type SigHome,
  writeFileAtomic,
} from './config.js';
import { CliError, withContext } from './errors.js';
import { type ExitCode, exitCodeFor } from './exit-codes.js';
import { AnswerCheck, type AnswerReport, indexPinOf, requireIndexLeaf } from './index-check.js';
import {
  advanceCheckpoint,
  type Freshness,
  freshness,
  openCheckpoint,
  type VerifiedCheckpoint,
  verifyItem,
} from './pinned.js';
import type { CandidateSet } from './trust.js';
import { type QuorumReport, requireQuorum } from './witnesses.js';

/**
 * clientFor returns an HTTP client for a server, within the command's deadline, telling `warn` about
 * 429/503 waits.
 */
export function clientFor(
  server: { url: string },
  warn?: (m: string) => void,
  deadline?: Deadline,
): SigClient {
  const c = new SigClient(server.url, { deadline });
  if (warn) {
    c.onRetry = ({ url, status, waitMs, attempt }) =>
      warn(
        `${url} answered ${status}; retrying in ${Math.ceil(waitMs / 1000)}s (attempt ${attempt + 1} of ${c.retry.attempts})`,
      );
  }
  return c;
}

/**
 * serverNameFor returns the default local name of a server URL: its host and port, made a
 * SERVER_NAME_PATTERN name (other characters become '_', a leading '.' or '-' gets a '_' in front, at
 * most 100 characters).
 */
export function serverNameFor(url: string): string {
  const name = new URL(url).host.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[.-]/, '_$&');
  return name.slice(0, 100) || '_';
}

/** checkServerName returns a name given by the user (`--name`); USAGE unless it is SERVER_NAME_PATTERN. */
export function checkServerName(name: string): string {
  if (!isServerName(name)) {
    throw new CliError('USAGE', `--name must be ${SERVER_NAME_RULE}, found ${JSON.stringify(name)}`);
  }
  return name;
}

/** ServerOffer is a server as shown to the user before pinning, its checkpoint already verified. */
export interface ServerOffer {
  entry: ServerEntry;
  checkpoint: VerifiedCheckpoint;
  freshness: Freshness;
  userIds: string[];
}

/**
 * fetchServerOffer reads GET /v1/server, checks it is self-consistent (the OpenPGP key has the stated
 * fingerprint; the vkey is a valid Ed25519 note key named after the origin), and verifies the current
 * checkpoint with those keys. Throws SERVER_RESPONSE_INVALID when it is not.
 */
export async function fetchServerOffer(
  url: string,
  opts: { name?: string; maxAgeSeconds?: number },
  warn?: (m: string) => void,
  deadline?: Deadline,
): Promise<ServerOffer> {
  const base = url.replace(/\/+$/, '');
  if (opts.name !== undefined) checkServerName(opts.name);
  try {
    if (!/^https?:$/.test(new URL(base).protocol)) throw new Error('not http(s)');
  } catch {
    throw new CliError(
      'USAGE',
      `expected a server URL such as http://127.0.0.1:8080, found ${JSON.stringify(url)}`,
    );
  }
  const client = clientFor({ url: base }, warn, deadline);
  const info = await client.serverInfo();
  const ctx = `server ${base} (GET /v1/server)`;
  const key = await withContext(ctx, async () => {
    try {
      return await readPublicKey(info.openpgp.publicKey);
    } catch (e) {
      if (isLogError(e)) throw new CliError('SERVER_RESPONSE_INVALID', `openpgp.publicKey: ${e.message}`);
      throw e;
    }
  });
  const fp = fingerprintHex(key);
  if (fp !== info.openpgp.fingerprint.toUpperCase()) {
    throw new CliError(
      'SERVER_RESPONSE_INVALID',
      `${ctx}: states fingerprint ${info.openpgp.fingerprint} but its key is ${fp}`,
    );
  }
  let vname: string;
  try {
    vname = ed25519Verifier(info.vkey).name;
  } catch (e) {
    throw new CliError(
      'SERVER_RESPONSE_INVALID',
      `${ctx}: vkey ${JSON.stringify(info.vkey)}: ${(e as Error).message}`,
    );
  }
  if (vname !== info.origin) {
    throw new CliError(
      'SERVER_RESPONSE_INVALID',
      `${ctx}: vkey is named ${JSON.stringify(vname)}, expected the origin ${JSON.stringify(info.origin)}`,
    );
  }
  const entry: ServerEntry = {
    name: opts.name ?? serverNameFor(base),
    url: base,
    origin: info.origin,
    vkey: info.vkey,
    fingerprint: fp,
    openpgpPublicKey: info.openpgp.publicKey,
    maxAgeSeconds: opts.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS,
    ...indexPinOf(info, ctx),
  };
  const checkpoint = await openCheckpoint(entry, await client.checkpoint());
  await requireIndexLeaf(entry, client, checkpoint);
  return { entry, checkpoint, freshness: freshness(entry, checkpoint.timestamp), userIds: key.getUserIDs() };
}

/**
 * pinServer adds a verified offer to servers.json and keeps its checkpoint. USAGE when the name is
 * taken. servers.json is written first: a crash before the checkpoint is kept only means the next
 * command trusts the first checkpoint it sees, as this one did.
 */
export function pinServer(home: SigHome, offer: ServerOffer, expectedFingerprint?: string): void {
  if (
    expectedFingerprint !== undefined &&
    normalizeFingerprint(expectedFingerprint) !== offer.entry.fingerprint
  ) {
    throw new CliError(
      'SERVER_KEY_MISMATCH',
      `server ${offer.entry.url} has OpenPGP key ${offer.entry.fingerprint}, not the ${normalizeFingerprint(expectedFingerprint)} you asked to pin: not added`,
    );
  }
  const servers = home.servers();
  if (servers.some((s) => s.name === offer.entry.name)) {
    throw new CliError(
      'USAGE',
      `a server named ${offer.entry.name} is already configured: remove it first or pass --name`,
    );
  }
  home.removeServerState(offer.entry.name);
  home.setServers([...servers, offer.entry]);
  home.keepCheckpoint(offer.entry.name, offer.checkpoint.checkpoint.treeSize, offer.checkpoint.note);
}

/** fetchCheckpoint gets a server's current checkpoint, verifies it with the pinned keys, proves it consistent with the kept one and keeps it. */
export async function fetchCheckpoint(
  home: SigHome,
  server: ServerEntry,
  client: SigClient,
): Promise<{ checkpoint: VerifiedCheckpoint; previousSize?: bigint; freshness: Freshness }> {
  const note = await withContext(`server ${server.name}`, () => client.checkpoint());
  const cp = await openCheckpoint(server, note);
  const adv = await advanceCheckpoint(home, server, client, cp);
  return { checkpoint: cp, previousSize: adv.previousSize, freshness: freshness(server, cp.timestamp) };
}

/** ServerStatus is how a server's answer is reported. */
export type ServerStatus = 'fresh' | 'stale' | 'invalid' | 'fork' | 'unavailable' | 'refused' | 'unwitnessed';

/** ServerReport is one server's part of a verify, publish or audit. */
export interface ServerReport extends Partial<AnswerReport> {
  server: string;
  url: string;
  status: ServerStatus;
  treeSize?: bigint;
  checkpointTime?: string;
  ageSeconds?: number;
  attestations?: number;
  /** witnesses: the pinned witnesses' cosignatures on the checkpoint (cli/witnesses.ts). */
  witnesses?: QuorumReport;
  reason?: string;
  error?: { code: string; message: string; exitCode: ExitCode; details?: Record<string, unknown> };
}

/** failureReport turns an error into a ServerReport with the right status. */
export function failureReport(server: ServerEntry, e: unknown): ServerReport {
  if (!(e instanceof CliError) && !isLogError(e)) throw e;
  const exitCode = exitCodeFor(e);
  const status: ServerStatus =
    e.code === 'WITNESS_QUORUM_NOT_MET'
      ? 'unwitnessed'
      : e.code === 'FORK_DETECTED'
        ? 'fork'
        : e.code === 'SERVER_UNAVAILABLE' || e.code === 'DEADLINE_EXCEEDED'
          ? 'unavailable'
          : e.code === 'SERVER_REFUSED'
            ? 'refused'
            : 'invalid';
  return {
    server: server.name,
    url: server.url,
    status,
    error: { code: e.code, message: e.message, exitCode, details: e.details },
  };
}

/**
 * queryServer asks one server for every logged attestation of `id` (all pages), verifies each page's
 * checkpoint (pinned keys, freshness, consistency with the kept one) and each item's inclusion proof,
 * checks each entry is an attestation of `id`, and adds them to `into` with their (server, index).
 * Throws on any verification failure, and SERVER_LIMIT_EXCEEDED past CLIENT_LIMITS.pages pages or
 * CLIENT_LIMITS.items items: an answer is checked whole or not believed at all.
 */
export async function queryServer(
  home: SigHome,
  server: ServerEntry,
  client: SigClient,
  id: string,
  into: CandidateSet,
): Promise<ServerReport> {
  let items = 0;
  const answer = new AnswerCheck(server, [{ by: 'id', value: id }]);
  let cursor: string | undefined;
  let first: { cp: VerifiedCheckpoint; fresh: Freshness } | undefined;
  let stale: Freshness | undefined;
  // Pages normally repeat one checkpoint: open and advance each distinct note once.
  let last: { note: string; cp: VerifiedCheckpoint } | undefined;
  for (let page = 1; ; page++) {
    if (page > CLIENT_LIMITS.pages)
      throw new CliError(
        'SERVER_LIMIT_EXCEEDED',
        `server ${server.name}: more than ${CLIENT_LIMITS.pages} pages for ${id}, the most this client reads from one server; not believing a partial answer`,
        { limit: CLIENT_LIMITS.pages },
      );
    const p = await withContext(`server ${server.name}`, () => client.attestationsPage({ id, cursor }));
    items += p.attestations.length;
    if (items > CLIENT_LIMITS.items)
      throw new CliError(
        'SERVER_LIMIT_EXCEEDED',
        `server ${server.name}: more than ${CLIENT_LIMITS.items} attestations for ${id}, the most this client checks from one server; not believing a partial answer`,
        { limit: CLIENT_LIMITS.items },
      );
    const cp =
      last?.note === p.checkpoint
        ? last.cp
        : await openCheckpoint(server, p.checkpoint, `checkpoint of the answer for ${id}`);
    await answer.page(p, cp);
    if (last?.note !== p.checkpoint) {
      await advanceCheckpoint(home, server, client, cp);
      last = { note: p.checkpoint, cp };
    }
    const f = freshness(server, cp.timestamp);
    if (!f.fresh) stale ??= f;
    first ??= { cp, fresh: f };
    for (const item of p.attestations) {
      const entry = await verifyItem(server, cp, item);
      if (entry.attestation.data.id !== id) {
        throw new CliError(
          'SERVER_RESPONSE_INVALID',
          `server ${server.name}: entry ${item.index} is an attestation of ${JSON.stringify(entry.attestation.data.id)}, not of the ${JSON.stringify(id)} asked for`,
        );
      }
      into.add(entry.attestation, server.name, { server: server.name, index: item.index });
    }
    if (p.next === null) break;
    if (p.next === cursor)
      throw new CliError(
        'SERVER_RESPONSE_INVALID',
        `server ${server.name}: pagination cursor does not advance`,
      );
    cursor = p.next;
  }
  const completeness = await answer.finish();
  // Pinned witnesses: the answer's checkpoint must carry their quorum (throws WITNESS_QUORUM_NOT_MET).
  const witnesses = await requireQuorum(server, first!.cp);
  const f = stale ?? first!.fresh;
  return {
    server: server.name,
    url: server.url,
    status: f.fresh ? 'fresh' : 'stale',
    treeSize: first!.cp.checkpoint.treeSize,
    checkpointTime: first!.cp.timestamp.toISOString(),
    ageSeconds: f.ageSeconds,
    attestations: items,
    ...completeness,
    ...(witnesses ? { witnesses } : {}),
    ...(f.reason ? { reason: f.reason } : {}),
  };
}

/** collectLocal reads the local attestations of id into candidates; files that do not parse are returned as problems. */
export async function collectLocal(
  home: SigHome,
  id: string,
  candidates: CandidateSet,
  parse: (v: unknown) => Attestation,
): Promise<{ file: string; reason: string }[]> {
  const problems: { file: string; reason: string }[] = [];
  for (const file of home.attestationFiles(id)) {
    try {
      const att = parse(JSON.parse(readFileSync(file, 'utf8')));
      if (att.data.id !== id) {
        problems.push({ file, reason: `attestation of ${att.data.id}, filed under ${id}` });
        continue;
      }
      candidates.add(att, 'local');
    } catch (e) {
      problems.push({ file, reason: (e as Error).message });
    }
  }
  return problems;
}

/** PublishResult is one server's answer to a publish. */
export interface PublishResult extends ServerReport {
  receipts?: { index: bigint; id: string; key: string; file: string }[];
  /** alreadyLogged counts receipts for entries that were in the tree kept before this publish. */
  alreadyLogged?: number;
}

/** DEFAULT_PER_REQUEST is the server default of MAX_ATTESTATIONS_PER_REQUEST, for servers that do not say. */
const DEFAULT_PER_REQUEST = 100;

/** attestationsPerRequest reads the server's per-request limit from /v1/server (the default when absent). */
async function attestationsPerRequest(client: SigClient): Promise<number> {
  const v = (await client.serverInfo()).limits.maxAttestationsPerRequest;
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? v : DEFAULT_PER_REQUEST;
}

/** A receipt whose entry holds the attestation sent, under a checkpoint signed by the pinned keys. */
interface CheckedReceipt {
  index: bigint;
  cp: VerifiedCheckpoint;
  receipt: RawReceipt;
  att: Attestation;
}

/**
 * Sends attestations (and keys) to the server and returns its receipts, one per attestation in order.
 * A server takes at most limits.maxAttestationsPerRequest per POST (413 past it): send in chunks of
 * that size. A failure after some chunks leaves those logged but no receipt kept; publishing again
 * returns their existing receipts.
 */
async function publishInChunks(
  server: ServerEntry,
  client: SigClient,
  attestations: Attestation[],
  keys: string[],
): Promise<RawReceipt[]> {
  return withContext(`server ${server.name}`, async () => {
    const per = attestations.length > 1 ? await attestationsPerRequest(client) : 1;
    const out: RawReceipt[] = [];
    for (let i = 0; i < attestations.length; i += per) {
      out.push(...(await client.publish(attestations.slice(i, i + per), keys)));
    }
    return out;
  });
}

/**
 * Checks receipt i against attestations[i] (publishTo): its checkpoint opened with the pinned keys
 * (each distinct note once), its inclusion proof, and the attestationDigest of its entry. Returns the
 * checked receipts and the distinct checkpoints; throws RECEIPT_INVALID for an entry that holds another
 * attestation, and what openCheckpoint and verifyItem throw.
 */
async function checkReceipts(
  server: ServerEntry,
  attestations: Attestation[],
  raw: RawReceipt[],
): Promise<{ checked: CheckedReceipt[]; checkpoints: VerifiedCheckpoint[] }> {
  const checked: CheckedReceipt[] = [];
  const byNote = new Map<string, VerifiedCheckpoint>();
  for (const [i, r] of raw.entries()) {
    const att = attestations[i]!;
    let cp = byNote.get(r.checkpoint);
    if (!cp) {
      cp = await openCheckpoint(server, r.checkpoint, `receipt ${i} checkpoint`);
      byNote.set(r.checkpoint, cp);
    }
    const entry = await verifyItem(server, cp, r);
    if (!bytesEqual(attestationDigest(entry.attestation), attestationDigest(att))) {
      throw new CliError(
        'RECEIPT_INVALID',
        `server ${server.name}: receipt ${i} (entry ${r.index}) holds a different attestation from the one sent (${entry.attestation.data.id} by ${entry.attestation.key}, expected ${att.data.id} by ${att.key})`,
        { item: i, index: Number(r.index) },
      );
    }
    checked.push({ index: r.index, cp, receipt: r, att });
  }
  return { checked, checkpoints: [...byNote.values()] };
}

/** Writes each checked receipt to its file (home.receiptPath) and returns what publishTo reports of them. */
function writeReceipts(
  home: SigHome,
  server: ServerEntry,
  checked: CheckedReceipt[],
): NonNullable<PublishResult['receipts']> {
  const receipts: NonNullable<PublishResult['receipts']> = [];
  for (const c of checked) {
    const file = home.receiptPath(server.name, c.index);
    writeFileAtomic(
      file,
      `${JSON.stringify(
        {
          server: server.name,
          url: server.url,
          origin: server.origin,
          index: Number(c.index),
          entry: base64Encode(c.receipt.entry),
          inclusionProof: c.receipt.inclusionProof.map(base64Encode),
          checkpoint: c.receipt.checkpoint,
          attestation: c.att,
        },
        null,
        2,
      )}\n`,
    );
    receipts.push({ index: c.index, id: c.att.data.id, key: c.att.key, file });
  }
  return receipts;
}

/**
 * publishTo sends attestations (and the signers' public keys) to one server and checks every receipt
 * offline before keeping it: the entry bytes hash to the leaf the inclusion proof proves against the
 * receipt's checkpoint, that checkpoint is signed by the PINNED keys and consistent with the last kept,
 * and the entry holds the attestation sent: the same log/entry.ts attestationDigest (same data, same
 * key, same canonical signature). Not the same bytes: the server dedups on that digest, so a re-spelled
 * copy of a logged attestation (other packet header or unhashed subpackets) gets the first copy's
 * receipt. Throws on any failure; keeps nothing of a publish whose receipts do not all verify.
 */
export async function publishTo(
  home: SigHome,
  server: ServerEntry,
  client: SigClient,
  attestations: Attestation[],
  keys: string[],
): Promise<PublishResult> {
  const keptBefore = home.keptCheckpoint(server.name)?.split('\n')[1];
  const sizeBefore = keptBefore !== undefined && /^\d+$/.test(keptBefore) ? BigInt(keptBefore) : 0n;
  const raw = await publishInChunks(server, client, attestations, keys);
  const { checked, checkpoints } = await checkReceipts(server, attestations, raw);
  const cps = checkpoints.sort((a, b) => (a.checkpoint.treeSize < b.checkpoint.treeSize ? -1 : 1));
  let last: VerifiedCheckpoint | undefined;
  for (const cp of cps) last = (await advanceCheckpoint(home, server, client, cp)).kept;
  const receipts = writeReceipts(home, server, checked);
  const f = last ? freshness(server, last.timestamp) : undefined;
  return {
    server: server.name,
    url: server.url,
    status: 'fresh',
    treeSize: last?.checkpoint.treeSize,
    checkpointTime: last?.timestamp.toISOString(),
    ageSeconds: f?.ageSeconds,
    receipts,
    alreadyLogged: receipts.filter((r) => r.index < sizeBefore).length,
  };
}

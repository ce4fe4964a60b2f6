/**
 * Tests of log/policy.ts: c2sp.org/tlog-policy parsing and quorum evaluation.
 *
 * External examples first: the spec's example policy (C2SP/C2SP tlog-policy.md "Example policy",
 * quoted; the spec elides its keys as `<vkey>`, so fresh ones are put in), its `quorum none`, the
 * signed-note spec's example vkey (C2SP/C2SP signed-note.md "Verifier keys", Example) as a log line,
 * and the valid and invalid configurations of sigsum-go's tests (sigsum/sigsum-go
 * pkg/policy/config_test.go TestValidConfig, TestNumericThreshold, TestInvalidConfig: the format
 * tlog-policy comes from), re-expressed with vkeys where sigsum has hex keys, with their quorum tables.
 * Then every refusal (POLICY_INVALID naming the line), and fast-check: random policies round-trip
 * through format and parse, and quorumSatisfied agrees with test/witness-reference.ts refQuorum (brute
 * force over subsets) on every set of cosigners.
 */
import test from 'ava';
import fc from 'fast-check';
import { formatCheckpoint } from '../log/checkpoint.js';
import { cosignatureSigner, generateCosignatureKey } from '../log/cosignature.js';
import { isLogError } from '../log/errors.js';
import { ed25519Signer, generateEd25519Key, openNote, signNote } from '../log/note.js';
import {
  cosignedWitnesses,
  formatWitnessPolicy,
  POLICY_LIMITS,
  parseWitnessPolicy,
  quorumSatisfied,
  type WitnessPolicy,
} from '../log/policy.js';
import { refPublicKey, refQuorum, refVkey } from './witness-reference.js';

/** A pool of cosigner keys (type 0x04) and log keys (type 0x01), made once. */
const W = Array.from({ length: 16 }, (_, i) => generateCosignatureKey(`witness.example/w${i}`));
const L = Array.from({ length: 3 }, (_, i) => generateEd25519Key(`log.example/l${i}`));

/** The line a policy refusal names, or 'ok', or the unexpected error. */
function refusedAt(text: string | Uint8Array): number | undefined | 'ok' | string {
  try {
    parseWitnessPolicy(text);
    return 'ok';
  } catch (e) {
    if (isLogError(e, 'POLICY_INVALID')) return e.details.line as number | undefined;
    return `unexpected ${String(e)}`;
  }
}

/** The parts of a policy that are data (verifiers are functions). */
function shape(p: WitnessPolicy) {
  return {
    logs: p.logs.map((l) => ({ vkey: l.vkey, origin: l.origin, url: l.url })),
    witnesses: p.witnesses.map((w) => ({ name: w.name, vkey: w.vkey, url: w.url })),
    groups: p.groups,
    quorum: p.quorum,
  };
}

/** Every subset of xs. */
function powerSet<T>(xs: readonly T[]): T[][] {
  const out: T[][] = [[]];
  for (const x of xs) for (const s of out.slice()) out.push([...s, x]);
  return out;
}

// --- the spec's examples ---

// Quoted from C2SP/C2SP tlog-policy.md, "Example policy", with <vkey> filled in below.
const SPEC_EXAMPLE = `log <vkey>

witness X1 <vkey>
witness X2 <vkey>
witness X3 <vkey>
group X-witnesses 2 X1 X2 X3

witness Y1 <vkey>
witness Y2 <vkey>
witness Y3 <vkey>
group Y-witnesses any Y1 Y2 Y3

group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
`;

test('spec example (tlog-policy.md): two groups under an all; at least 2 of X and 1 of Y, for every subset', (t) => {
  let i = 0;
  const text = SPEC_EXAMPLE.replace(/<vkey>/g, () => (i++ === 0 ? L[0]!.vkey : W[i]!.vkey));
  const p = parseWitnessPolicy(text);
  t.deepEqual(
    p.logs.map((l) => l.origin),
    ['log.example/l0'],
  );
  t.deepEqual(
    p.witnesses.map((w) => w.name),
    ['X1', 'X2', 'X3', 'Y1', 'Y2', 'Y3'],
  );
  t.deepEqual(p.groups, [
    { name: 'X-witnesses', threshold: 2, members: ['X1', 'X2', 'X3'] },
    { name: 'Y-witnesses', threshold: 1, members: ['Y1', 'Y2', 'Y3'] },
    { name: 'X-and-Y', threshold: 2, members: ['X-witnesses', 'Y-witnesses'] },
  ]);
  t.is(p.quorum, 'X-and-Y');
  for (const set of powerSet(p.witnesses.map((w) => w.name))) {
    const xs = set.filter((n) => n.startsWith('X')).length;
    const ys = set.filter((n) => n.startsWith('Y')).length;
    t.is(quorumSatisfied(p, set), xs >= 2 && ys >= 1, set.join(','));
  }
});

test('spec: "quorum none" asks for no cosignature; a policy of only it is valid (no logs, no witnesses)', (t) => {
  const p = parseWitnessPolicy('quorum none\n');
  t.deepEqual(shape(p), { logs: [], witnesses: [], groups: [], quorum: 'none' });
  t.true(quorumSatisfied(p, []));
  const q = parseWitnessPolicy(`witness A ${W[0]!.vkey}\nquorum none\n`);
  t.true(quorumSatisfied(q, []));
  t.true(quorumSatisfied(q, ['A']));
});

test('signed-note spec example vkey (signed-note.md "Verifier keys") is a log; its name is the origin; never a witness', (t) => {
  const vkey = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
  const p = parseWitnessPolicy(`log ${vkey} https://example.com/foo/\nquorum none\n`);
  t.deepEqual(
    p.logs.map((l) => [l.origin, l.url, l.verifier.keyId]),
    [['example.com/foo', 'https://example.com/foo/', 0x530d903a]],
  );
  t.is(refusedAt(`witness foo ${vkey}\nquorum foo\n`), 1);
  // The same public key as a cosigner (type 0x04) is a witness, and not a duplicate of the log.
  const pk = new Uint8Array(
    Buffer.from('AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k', 'base64').subarray(1),
  );
  const q = parseWitnessPolicy(
    `log ${vkey}\nwitness foo ${refVkey('example.com/foo', 0x04, pk)}\nquorum foo\n`,
  );
  t.is(q.witnesses[0]!.verifier.name, 'example.com/foo');
  // A cosigner vkey is not a log key.
  t.is(refusedAt(`log ${refVkey('example.com/foo', 0x04, pk)}\nquorum none\n`), 1);
});

// sigsum/sigsum-go pkg/policy/config_test.go TestValidConfig, with vkeys: keys a..f are pk(1)..pk(6);
// a log key and a witness key share key a, as there ("undesirable, but not an error").
const pk = (x: number) => refPublicKey(new Uint8Array(32).fill(x));
const logV = (x: number) => refVkey(`log${x}.example`, 0x01, pk(x));
const witV = (x: number) => refVkey(`wit${x}.example`, 0x04, pk(x));

test('sigsum-go TestValidConfig: comments, indentation, URLs, lines after the quorum, and its quorum table', (t) => {
  const text = `
# example config
log ${logV(1)} http://sigsum.example.org
  # comment
  log ${logV(2)}

witness W1 ${witV(3)} http://w1
# same key for log and key is undesirable, but not an error
witness W2 ${witV(1)}
witness W3 ${witV(4)} http://w3
witness W4 ${witV(5)} https://w4/
witness W5 ${witV(6)} https://w5

group G1 any W1 W2
group G2 2 W3 W4 W5
group G3 all G1 G2

quorum G3

  log ${logV(3)}
witness W6 ${witV(2)}
`;
  const p = parseWitnessPolicy(text);
  t.is(p.logs.length, 3);
  t.is(p.witnesses.length, 6);
  t.deepEqual(
    p.logs.filter((l) => l.url).map((l) => l.url),
    ['http://sigsum.example.org'],
  );
  t.deepEqual(
    p.witnesses.filter((w) => w.url).map((w) => [w.name, w.url]),
    [
      ['W1', 'http://w1'],
      ['W3', 'http://w3'],
      ['W4', 'https://w4/'],
      ['W5', 'https://w5'],
    ],
  );
  for (const [set, sufficient] of [
    [[], false],
    [[1], false],
    [[2], false],
    [[3], false],
    [[3, 4, 5], false],
    [[1, 2], false],
    [[1, 3], false],
    [[1, 3, 4], true],
    [[2, 3, 5], true],
  ] as [number[], boolean][]) {
    t.is(
      quorumSatisfied(
        p,
        set.map((i) => `W${i}`),
      ),
      sufficient,
      set.join(','),
    );
  }
});

test('sigsum-go TestNumericThreshold: 1 of A or 2 of B, and its quorum table', (t) => {
  const text = `
# example config
log ${logV(1)} http://sigsum.example.org

witness A1 ${witV(11)}
witness A2 ${witV(12)}
witness A3 ${witV(13)}
witness B1 ${witV(21)}
witness B2 ${witV(22)}
witness B3 ${witV(23)}

group A-group 1 A1 A2 A3
group B-group 2 B1 B2 B3
group G any A-group B-group

quorum G
`;
  const p = parseWitnessPolicy(text);
  for (const [a, b, sufficient] of [
    [[], [], false],
    [[1], [], true],
    [[2], [], true],
    [[3], [], true],
    [[1, 3], [], true],
    [[1, 3], [1], true],
    [[], [1], false],
    [[], [2], false],
    [[], [3], false],
    [[], [1, 2], true],
    [[], [1, 3], true],
    [[], [2, 3], true],
    [[], [1, 2, 3], true],
    [[2], [1, 2, 3], true],
  ] as [number[], number[], boolean][]) {
    const set = [...a.map((i) => `A${i}`), ...b.map((i) => `B${i}`)];
    t.is(quorumSatisfied(p, set), sufficient, set.join(','));
  }
});

test('sigsum-go TestInvalidConfig: every case refused, at the line it names', (t) => {
  const w1 = witV(3);
  const w2 = witV(1);
  const w3 = witV(2);
  for (const [desc, text, line] of [
    ['empty', '', undefined],
    ['invalid control char (formfeed)', '# \f\nquorum none\n', 1],
    ['invalid control char (DEL)', '# \x7F\nquorum none\n', 1],
    ['duplicate log', `\nlog ${logV(1)}\n  log ${logV(1)}\n`, 3],
    ['end-of-line comment', `\nlog ${logV(1)} http://example.org #comment\n`, 2],
    ['duplicate witness', `\nwitness W1 ${w1}\nwitness W2 ${w1}\n`, 3],
    ['duplicate name', `\nwitness W1 ${w1}\nwitness W1 ${witV(4)}\n`, 3],
    ['duplicate none', `\nwitness none ${w1}\n`, 2],
    ['undef name', `\nwitness W1 ${w1}\nwitness W2 ${w2}\ngroup G all W1 W3 W2\n`, 4],
    ['missing quorum', `\nwitness W1 ${w1}\nwitness W2 ${w2}\ngroup G all W1 W2\n`, undefined],
    ['repeated member', `\nwitness W1 ${w1}\nwitness W2 ${w2}\ngroup G all W1 W2 W1\n`, 4],
    [
      'member in two groups',
      `\nwitness W1 ${w1}\nwitness W2 ${w2}\nwitness W3 ${w3}\ngroup G1 all W1 W2\ngroup G2 all W3 W2\n`,
      6,
    ],
  ] as [string, string, number | undefined][]) {
    t.is(refusedAt(text), line, desc);
  }
});

// --- refusals ---

test('every other refusal names its line: keywords, arity, keys, URLs, thresholds, names, quorum, characters', (t) => {
  const a = W[0]!.vkey;
  const b = W[1]!.vkey;
  const cases: [string, string, number | undefined][] = [
    ['unknown keyword', `witness A ${a}\nwitnesses B ${b}\nquorum A\n`, 2],
    ['keyword in capitals', `Witness A ${a}\nquorum A\n`, 1],
    ['log without key', 'log\nquorum none\n', 1],
    ['log with two URLs', `log ${L[0]!.vkey} https://a https://b\nquorum none\n`, 1],
    ['witness without key', 'witness A\nquorum none\n', 1],
    ['witness with extra item', `witness A ${a} https://w x\nquorum A\n`, 1],
    ['quorum without name', 'quorum\n', 1],
    ['quorum with two names', `witness A ${a}\nwitness B ${b}\nquorum A B\n`, 3],
    ['group without members', `witness A ${a}\ngroup G any\nquorum G\n`, 2],
    ['log key of type 0x04', `log ${a}\nquorum none\n`, 1],
    ['witness key of type 0x01', `witness A ${L[0]!.vkey}\nquorum A\n`, 1],
    [
      'witness key with a bad key ID',
      `witness A ${a.replace(/\+[0-9a-f]{8}\+/, '+00000000+')}\nquorum A\n`,
      1,
    ],
    ['log key malformed', 'log not-a-vkey\nquorum none\n', 1],
    ['relative URL', `witness A ${a} w.example/add\nquorum A\n`, 1],
    ['ftp URL', `witness A ${a} ftp://w.example/\nquorum A\n`, 1],
    ['threshold 0', `witness A ${a}\ngroup G 0 A\nquorum G\n`, 2],
    ['threshold over n', `witness A ${a}\nwitness B ${b}\ngroup G 3 A B\nquorum G\n`, 3],
    ['threshold with a leading zero', `witness A ${a}\ngroup G 01 A\nquorum G\n`, 2],
    ['threshold negative', `witness A ${a}\ngroup G -1 A\nquorum G\n`, 2],
    ['threshold a word', `witness A ${a}\ngroup G some A\nquorum G\n`, 2],
    ['threshold huge', `witness A ${a}\ngroup G 99999999999999999999 A\nquorum G\n`, 2],
    ['group member none', `witness A ${a}\ngroup G any A none\nquorum G\n`, 2],
    ['group lists itself', `witness A ${a}\ngroup G any A G\nquorum G\n`, 2],
    ['a cycle (forward reference)', `witness A ${a}\ngroup G1 any A G2\ngroup G2 any G1\nquorum G2\n`, 2],
    ['group named like a witness', `witness A ${a}\ngroup A any A\nquorum A\n`, 2],
    ['group named none', `witness A ${a}\ngroup none any A\nquorum A\n`, 2],
    ['quorum of a later name', `witness A ${a}\nquorum B\nwitness B ${b}\n`, 2],
    ['quorum undefined', `witness A ${a}\nquorum C\n`, 2],
    ['second quorum', `witness A ${a}\nquorum A\nquorum none\n`, 3],
    ['carriage return', `witness A ${a}\r\nquorum A\r\n`, 1],
    ['NUL', `quorum none\n\0\n`, 2],
    ['vertical tab as a separator', `witness\u000bA ${a}\nquorum A\n`, 1],
  ];
  for (const [desc, text, line] of cases) t.is(refusedAt(text), line, desc);
  // Whole-file refusals have no line.
  t.is(refusedAt(Uint8Array.of(0x71, 0xff, 0x0a)), undefined, 'not UTF-8');
  t.is(refusedAt('quorum none\n\ud800\n'), undefined, 'lone surrogate');
  t.is(refusedAt(`# ${'x'.repeat(POLICY_LIMITS.bytes)}\nquorum none\n`), undefined, 'too large');
  t.is(refusedAt(new Uint8Array(POLICY_LIMITS.bytes + 1).fill(0x20)), undefined, 'too large bytes');
  t.is(refusedAt(42 as unknown as string), undefined, 'not text');
});

test('limits: up to POLICY_LIMITS are accepted, one more is refused at its line', (t) => {
  const keys = Array.from({ length: POLICY_LIMITS.witnesses + 1 }, (_, i) =>
    refVkey(
      `w${i}.example`,
      4,
      refPublicKey(Uint8Array.from({ length: 32 }, (_, j) => (j < 2 ? (i >> (8 * j)) & 255 : 7))),
    ),
  );
  const lines = keys.map((k, i) => `witness w${i} ${k}`);
  t.is(refusedAt(`${lines.slice(0, -1).join('\n')}\nquorum none\n`), 'ok');
  t.is(refusedAt(`${lines.join('\n')}\nquorum none\n`), POLICY_LIMITS.witnesses + 1);
  const groups = Array.from({ length: POLICY_LIMITS.groups + 1 }, (_, i) => `group g${i} any w${i}`);
  t.is(refusedAt(`${lines.slice(0, -1).join('\n')}\n${groups.slice(0, -1).join('\n')}\nquorum g0\n`), 'ok');
});

test('tabs and spaces separate items; trailing whitespace and a missing final newline are fine', (t) => {
  const a = W[0]!.vkey;
  const p = parseWitnessPolicy(`\t witness \t A\t${a}  https://w.example/ \t\n\t# note\n  quorum\tA`);
  t.deepEqual(shape(p).witnesses, [{ name: 'A', vkey: a, url: 'https://w.example/' }]);
  t.is(p.quorum, 'A');
  // Names are exact code points: K and the Kelvin sign are two names (tlog-policy "Character set").
  const q = parseWitnessPolicy(
    `witness K ${a}\nwitness \u212a ${W[1]!.vkey}\ngroup G all K \u212a\nquorum G\n`,
  );
  t.false(quorumSatisfied(q, ['K']));
  t.true(quorumSatisfied(q, ['K', '\u212a']));
});

// --- cosignatures to quorum, end to end ---

test('cosignedWitnesses maps verified cosignature lines to policy names; a 2-of-3 quorum', async (t) => {
  const log = L[0]!;
  const text = formatCheckpoint({
    origin: 'log.example/l0',
    treeSize: 7n,
    rootHash: new Uint8Array(32).fill(1),
    extensions: [],
  });
  const policy = parseWitnessPolicy(
    `log ${log.vkey}\nwitness A ${W[0]!.vkey}\nwitness B ${W[1]!.vkey}\nwitness C ${W[2]!.vkey}\ngroup two 2 A B C\nquorum two\n`,
  );
  const verifiers = [...policy.logs.map((l) => l.verifier), ...policy.witnesses.map((w) => w.verifier)];
  const stranger = generateCosignatureKey('witness.example/w0'); // A's name, another key
  const oneNote = await signNote(text, [
    ed25519Signer(log.skey),
    cosignatureSigner(W[0]!.skey),
    cosignatureSigner(stranger.skey),
  ]);
  const one = cosignedWitnesses(policy, (await openNote(oneNote, verifiers)).verified);
  t.deepEqual([...one], ['A']);
  t.false(quorumSatisfied(policy, one));
  const twoNote = await signNote(text, [
    ed25519Signer(log.skey),
    cosignatureSigner(W[2]!.skey),
    cosignatureSigner(W[0]!.skey),
  ]);
  const two = cosignedWitnesses(policy, (await openNote(twoNote, verifiers)).verified);
  t.deepEqual([...two].sort(), ['A', 'C']);
  t.true(quorumSatisfied(policy, two));
  // The same witness twice is one witness.
  const twice = await signNote(text, [
    ed25519Signer(log.skey),
    cosignatureSigner(W[0]!.skey, () => new Date(1e12)),
    cosignatureSigner(W[0]!.skey, () => new Date(2e12)),
  ]);
  t.false(quorumSatisfied(policy, cosignedWitnesses(policy, (await openNote(twice, verifiers)).verified)));
  t.throws(() => quorumSatisfied(policy, ['D']), { instanceOf: Error, message: /not a witness/ });
});

// --- fast-check ---

/** What arbPolicy generates: a policy as written, `kind` choosing how a threshold is spelled. */
interface GenPolicy {
  logs: { vkey: string; url: string | undefined }[];
  witnesses: { name: string; vkey: string; url: string | undefined }[];
  groups: { name: string; threshold: number; members: string[]; kind: number }[];
  quorum: string;
}

/** A random valid policy over the key pool: witnesses, groups naming earlier names once each, a quorum. */
const arbPolicy: fc.Arbitrary<GenPolicy> = fc
  .record({
    witnesses: fc.integer({ min: 0, max: 8 }),
    groups: fc.array(
      fc.record({
        picks: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
        k: fc.nat(),
        kind: fc.nat({ max: 3 }),
      }),
      {
        maxLength: 5,
      },
    ),
    quorumPick: fc.nat(),
    logs: fc.integer({ min: 0, max: 3 }),
    urls: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
  })
  .map(({ witnesses, groups, quorumPick, logs, urls }) => {
    const free: string[] = Array.from({ length: witnesses }, (_, i) => `w-${i}`);
    const out: { name: string; threshold: number; members: string[]; kind: number }[] = [];
    groups.forEach((g, gi) => {
      const members: string[] = [];
      for (const p of g.picks) {
        if (free.length === 0) break;
        members.push(free.splice(p % free.length, 1)[0]!);
      }
      if (members.length === 0) return;
      const name = `g-${gi}`;
      out.push({ name, threshold: 1 + (g.k % members.length), members, kind: g.kind });
      free.push(name);
    });
    const names = [...free, 'none'];
    return {
      logs: Array.from({ length: logs }, (_, i) => ({
        vkey: L[i]!.vkey,
        url: urls[i] ? `https://l${i}.example/` : undefined,
      })),
      witnesses: Array.from({ length: witnesses }, (_, i) => ({
        name: `w-${i}`,
        vkey: W[i]!.vkey,
        url: urls[3 + i] ? `http://w${i}.example:8080/p` : undefined,
      })),
      groups: out,
      quorum: names[quorumPick % names.length]!,
    };
  });

/** The policy text, with any/all spelled out where they apply and random indentation and comments. */
function policyText(p: GenPolicy, pad: number): string {
  const sp = pad % 2 === 0 ? ' ' : ' \t ';
  const lines: string[] = ['# generated'];
  for (const l of p.logs) lines.push(['log', l.vkey, l.url].filter(Boolean).join(sp));
  for (const w of p.witnesses)
    lines.push(`${pad % 3 === 0 ? '  ' : ''}${['witness', w.name, w.vkey, w.url].filter(Boolean).join(sp)}`);
  for (const g of p.groups) {
    const k =
      g.kind === 1 && g.threshold === 1
        ? 'any'
        : g.kind === 2 && g.threshold === g.members.length
          ? 'all'
          : String(g.threshold);
    lines.push(['group', g.name, k, ...g.members].join(sp));
    if (pad % 5 === 0) lines.push('', '  # a comment');
  }
  lines.push(`quorum${sp}${p.quorum}`);
  return `${lines.join('\n')}\n`;
}

test('fast-check: random policies parse to what was written, round-trip through format, and quorums match brute force', (t) => {
  fc.assert(
    fc.property(
      arbPolicy,
      fc.nat(),
      fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
      (p, pad, picks) => {
        const parsed = parseWitnessPolicy(policyText(p, pad));
        const want = {
          logs: p.logs.map((l, i) => ({ vkey: l.vkey, origin: `log.example/l${i}`, url: l.url })),
          witnesses: p.witnesses,
          groups: p.groups.map(({ name, threshold, members }) => ({ name, threshold, members })),
          quorum: p.quorum,
        };
        t.deepEqual(shape(parsed), want);
        const again = parseWitnessPolicy(formatWitnessPolicy(parsed));
        t.deepEqual(shape(again), want);
        const names = parsed.witnesses.map((w) => w.name);
        // One random subset, and every subset when there are few witnesses.
        const sets = names.length <= 6 ? powerSet(names) : [names.filter((_, i) => picks[i])];
        for (const set of sets) {
          const got = quorumSatisfied(parsed, set);
          t.is(
            got,
            refQuorum({ witnesses: names, groups: parsed.groups, quorum: parsed.quorum }, new Set(set)),
          );
          // Monotone: one more cosigner never breaks a met quorum.
          if (got) for (const n of names) t.true(quorumSatisfied(parsed, [...set, n]));
        }
      },
    ),
    { numRuns: 150 },
  );
});

test('fast-check: a policy text with one byte changed parses, or is refused with POLICY_INVALID', (t) => {
  const base = new TextEncoder().encode(
    `log ${L[0]!.vkey} https://l.example/\nwitness A ${W[0]!.vkey}\nwitness B ${W[1]!.vkey} https://b.example/\ngroup G 2 A B\nquorum G\n`,
  );
  fc.assert(
    fc.property(fc.nat({ max: base.length - 1 }), fc.nat({ max: 255 }), (i, x) => {
      const b = base.slice();
      b[i] = x;
      const r = refusedAt(b);
      return r === 'ok' || r === undefined || typeof r === 'number';
    }),
    { numRuns: 600 },
  );
  t.pass();
});

/**
 * What the peering tests (test/peers*.test.ts) share: servers started in this process on 127.0.0.1
 * port 0 (test/helpers/http.ts), a follower wired to them the way server/main.ts wires it (PEERS), the
 * GET /v1/peers view, and a forwarding proxy in front of a real server that can switch targets, rewrite
 * an answer or hold one back (a peer that forks, serves a bad tile, or stalls mid-round).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../server/config.js';
import type { ServerHandle } from '../server/main.js';
import { parsePeers } from '../server/peers/config.js';
import { DEFAULT_FOLLOW, type FollowOptions } from '../server/peers/followers.js';
import { openPeersLock } from '../server/peers/lock.js';
import { getJson, startTestServer, testConfig, waitFor } from './helpers/http.js';
import type { StoreBackend } from './helpers/stores.js';

/** PeerServer is a running server and the Config it runs with (config.peers is what /v1/peers lists). */
export interface PeerServer extends ServerHandle {
  config: Config;
  vkey: string;
}

/** startPeerServer starts a server named `name` (origin `<name>.test/log`) on backend `b`. */
export async function startPeerServer(
  name: string,
  b: StoreBackend,
  flags: Record<string, string | number | boolean> = {},
): Promise<PeerServer> {
  const config = testConfig(b, { origin: `${name}.test/log`, ...flags });
  const h = await startTestServer(config);
  return { ...h, config, vkey: h.service.info().vkey };
}

/** TEST_FOLLOW: the follower's settings in tests (fast polls, short timeouts). */
export const TEST_FOLLOW: FollowOptions = {
  ...DEFAULT_FOLLOW,
  pollMs: 100,
  maxBackoffMs: 1000,
  requestTimeoutMs: 5000,
  backlogShare: 5000,
};

/** follow makes `s` follow `peers` (as a PEERS file would), with TEST_FOLLOW and `opts` on top. */
export function follow(
  s: PeerServer,
  peers: readonly { url: string; vkey: string }[],
  opts: Partial<FollowOptions> = {},
): void {
  const specs = parsePeers(peers.map((p) => `peer ${p.url} ${p.vkey}`).join('\n'));
  s.config.peers = specs;
  s.service.followPeers(
    specs,
    { ...TEST_FOLLOW, maxAttestationBytes: s.config.maxAttestationBytes, ...opts },
    openPeersLock(s.config.databaseUrl),
  );
}

/** PeerView is one peer of GET /v1/peers. */
// biome-ignore lint/suspicious/noExplicitAny: wire JSON
export type PeerView = any;

/** peersOf returns GET /v1/peers of the server at `url`. */
export async function peersOf(url: string): Promise<PeerView[]> {
  const r = await getJson(`${url}/v1/peers`);
  if (r.status !== 200) throw new Error(`${url}/v1/peers answered ${r.status}`);
  return r.body.peers;
}

/** waitPeer waits until `check` holds for peer `peerUrl` on the server at `url`, and returns the view. */
export function waitPeer(
  url: string,
  peerUrl: string,
  what: string,
  check: (p: PeerView) => boolean,
  ms = 60_000,
): Promise<PeerView> {
  let last: PeerView | undefined;
  return waitFor(
    () => `${what}; last seen: ${JSON.stringify(last?.lastError ?? last ?? null)}`,
    async () => {
      const p = (await peersOf(url)).find((x) => x.url === peerUrl);
      last = p;
      return p && check(p) ? p : undefined;
    },
    ms,
  );
}

/** treeSize returns the size of the server's latest checkpoint. */
export async function treeSize(url: string): Promise<number> {
  const r = await getJson(`${url}/healthz`);
  return r.body.treeSize as number;
}

/** PeerProxy forwards GET requests to `target`, which may change; answers may be rewritten or held back. */
export interface PeerProxy {
  url: string;
  target: string;
  /** rewrite may replace the body of an answer (path without the proxy's origin). */
  rewrite: ((path: string, body: Buffer) => Buffer) | undefined;
  /** hold: requests whose path matches are never answered (a peer stalling mid-round). */
  hold: RegExp | undefined;
  /** held resolves... each time a request is held, `onHold` is called with its path. */
  onHold: ((path: string) => void) | undefined;
  /** requests: every path asked, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** startProxy starts a proxy on 127.0.0.1 port 0 in front of `target`. */
export async function startProxy(target: string): Promise<PeerProxy> {
  const open = new Set<ServerResponse>();
  const proxy: PeerProxy = {
    url: '',
    target,
    rewrite: undefined,
    hold: undefined,
    onHold: undefined,
    requests: [],
    close: async () => {},
  };
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    proxy.requests.push(path);
    if (proxy.hold?.test(path)) {
      open.add(res);
      proxy.onHold?.(path);
      return;
    }
    try {
      const up = await fetch(`${proxy.target}${path}`);
      let body: Buffer = Buffer.from(await up.arrayBuffer());
      if (up.status === 200 && proxy.rewrite) body = proxy.rewrite(path, body);
      res.writeHead(up.status, {
        'content-type': up.headers.get('content-type') ?? 'application/octet-stream',
      });
      res.end(body);
    } catch {
      res.writeHead(502).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    for (const r of open) r.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}

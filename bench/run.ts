/**
 * The benchmark entry point: `npm run bench` runs every benchmark module listed in BENCHES, in order;
 * `npm run bench -- log` (or any names) runs only those. Timings live here, never in tests.
 *
 * A benchmark module exports `run(): Promise<void>`, which prints its own results. To add one, write
 * bench/<name>.ts and add a line to BENCHES.
 */
const BENCHES: Record<string, () => Promise<{ run(): Promise<void> }>> = {
  log: () => import('./log.js'), // Merkle core: hashing, appendLeaves, proofs (log/)
  publish: () => import('./publish.js'), // publish throughput vs verification, receipt latency, RSS
  query: () => import('./query.js'), // queries, proofs, tiles at 10^4..10^6 (bulk-loaded), storage
  peers: () => import('./peers.js'), // peering: entries/s carried from a 10^5-entry log, lag under publish load
  index: () => import('./index.js'), // the index: added round time, takeover, storage, proof size, queries
  coldstart: () => import('./coldstart.js'), // embedded store: spawn to first 200 of /log/checkpoint, fresh and 10^5-entry restart
  receipt: () => import('./receipt.js'), // receipt latency of isolated publishes on an idle log (both stores)
  storage: () => import('./storage.js'), // bytes per entry by table and index (bulk-loaded, served log), dead pending rows
};

async function main(): Promise<void> {
  const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = names.filter((n) => !(n in BENCHES));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
    process.exit(2);
  }
  const selected = names.length > 0 ? names : Object.keys(BENCHES);
  console.log(
    `node ${process.version}, ${process.platform}/${process.arch}; benchmarks: ${selected.join(', ')}`,
  );
  for (const name of selected) {
    console.log(`\n== ${name} ==`);
    const mod = await BENCHES[name]!();
    await mod.run();
  }
}

await main();

#!/usr/bin/env node
// The `sig` command. Runs the compiled CLI in dist/ (build it with `npm run build`; `npm start` and
// `npm test` build first).
let cli;
try {
  cli = await import('../dist/cli/main.js');
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('sig: the CLI is not built yet: run `npm run build` in the project folder first\n');
    process.exit(1);
  }
  throw err;
}
await cli.main(import.meta.url);
// Exit with the command's code now, without waiting for idle keep-alive sockets to close.
process.exit();

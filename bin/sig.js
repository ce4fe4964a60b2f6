#!/usr/bin/env node
// The `sig` command. Runs the compiled CLI in dist/ (build it with `npm run build`; `npm start` and
// `npm test` build first).
async function load(path) {
  try {
    return await import(path);
  } catch (err) {
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(path.slice(3))) {
      process.stderr.write(
        'sig: the CLI is not built yet: run `npm run build` in the project folder first\n',
      );
      process.exit(1);
    }
    throw err;
  }
}
const argv = process.argv.slice(2);
// `sig server start` with plain setting flags goes straight to the server, without oclif and the
// command table (cli/serve.ts: about 1 s less before the server starts opening); with --help or
// anything oclif must judge, serveDirect returns false and oclif runs it as before.
if (argv[0] === 'server' && argv[1] === 'start') {
  const { serveDirect } = await load('../dist/cli/serve.js');
  if (await serveDirect(argv.slice(2))) process.exit();
}
const cli = await load('../dist/cli/main.js');
await cli.main(import.meta.url);
// Exit with the command's code now, without waiting for idle keep-alive sockets to close.
process.exit();

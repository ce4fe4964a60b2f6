#!/usr/bin/env node
// The `sig` command. Runs the compiled CLI in dist/ (build it with `npm run build`).
import { main } from '../dist/cli/main.js';

await main(import.meta.url);
// Exit with the command's code now, without waiting for idle keep-alive sockets to close.
process.exit();

#!/usr/bin/env node
// The `li-engine` command. Filled in by the app issue: run | check | send.
process.stdout.write('li-engine: not yet implemented\n')

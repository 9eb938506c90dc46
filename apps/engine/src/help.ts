/** Help texts of the `li-engine` commands. */

/** `li-engine --help`. */
export const MAIN_HELP = `li-engine: run HL7 v2 productions (InterSystems IRIS exports or native definitions)

Usage:
  li-engine run <production file> [options]   run a production (HTTP API, /health, /metrics)
  li-engine check <production file> [options] compatibility report for an IRIS export
  li-engine send --host H --port P [--tls] <files|->
                                              send HL7 files over MLLP, summarise the ACKs
  li-engine <command> --help                  help for one command
  li-engine --version                         print the version
`

/** `li-engine run --help`. */
export const RUN_HELP = `Usage: li-engine run <production file> [options]

Runs a production. Without --redis-url it runs on embedded defaults: data dir ./data, in-process
queues, SQLite message store, write-ahead log in fsync mode.

Options (each also from the environment):
  --data-dir DIR        data directory: WAL, message store, admin token   LI_DATA_DIR   (./data)
  --http-host H         HTTP listen address                               LI_HTTP_HOST  (0.0.0.0)
  --http-port N         HTTP port (/health, /metrics, /api)               LI_HTTP_PORT  (8080)
  --redis-url URL       share queues through Redis (redis://host:6379)    LI_REDIS_URL
  --sync MODE           WAL sync: fsync | async | none                    LI_SYNC_MODE  (fsync)
  --log-level L         fatal | error | warn | info | debug | trace | silent  LI_LOG_LEVEL (info)
  --plugin MODULE       load a plugin first (repeatable; path or package) LI_PLUGINS (a,b)
  --tls-config FILE     JSON: each SSLConfig name -> { cert, key, ca, ... }  LI_TLS_CONFIG
  --credentials FILE    JSON: each Credentials name -> { username,        LI_CREDENTIALS
                        password | passwordFile } (SMTP AUTH, HTTP Basic)
  --retention-days N    keep completed messages N days, then purge them;  LI_RETENTION_DAYS (30)
                        0 keeps everything (the store grows until the disk is full)
  --peers LIST          the other engines for scope=cluster answers:      LI_PEERS
                        http://10.1.2.3:8080,http://10.1.2.4:8080, or
                        dns:<name>:<port> (each A/AAAA address, re-resolved every 10 s)
  --instance NAME       this engine's name in cluster answers             LI_INSTANCE (hostname)
  -h, --help            this help
Environment only:
  LI_PRODUCTION         the production file when none is given
  LI_ADMIN_TOKEN        bearer token for /api (default: generated into <data dir>/admin-token)
  LI_SHUTDOWN_TIMEOUT   seconds before a stuck shutdown exits 1 (30)
  LI_DRAIN_TIMEOUT      seconds to drain queues on SIGTERM (10)
  LI_QUEUE_PREFIX       Redis key prefix of the queues with --redis-url (li:queue)
  LI_STORE_WORKER       0: keep the SQLite store on the main thread (default: a worker thread)
  LI_QUEUE_MEMORY_MB    MiB of queued bodies kept in memory before spilling to <data-dir>/queue-spill (default 64)
  LI_PURGE_INTERVAL     seconds between retention purges (3600; the first runs a minute after start)

Plugins: an ES module exporting register(api) (or a default function) that calls
api.registerIrisFunction(name, fn) and api.registerHostClass(className, factory).
See docs/configuration.md.
`

/** `li-engine check --help`. */
export const CHECK_HELP = `Usage: li-engine check <production file> [options]

Reads a production (IRIS Studio/XML export, UDL .cls or bare <Production> XML, with its rules, DTL
transforms and lookup tables) and prints, per item, rule and transform: supported, supported with
differences, or not supported.

Options:
  --plugin MODULE       load a plugin first: its functions and host classes count as supported
                        (repeatable; a path from the working directory or a package name;
                        also LI_PLUGINS=a,b)
  --tls-config FILE     the --tls-config of run: an item whose SSLConfig it does not define is
                        not supported (also LI_TLS_CONFIG)
  --credentials FILE    the --credentials of run: likewise for Credentials (also LI_CREDENTIALS)
  -h, --help            this help

Exit status: 0 everything is supported (differences included), 1 something is not supported,
2 the input could not be read.
`

/** `li-engine send --help`. */
export const SEND_HELP = `Usage: li-engine send --host H --port P [options] <file ...|->

Sends HL7 v2 messages over MLLP, one at a time, and summarises the ACK codes. Each file may hold
one message, several concatenated messages, or a batch (FHS/BHS ... BTS/FTS). "-" reads stdin.

Options:
  --host H              receiver host (required)
  --port P              receiver port (required)
  --tls                 use TLS
  --ca FILE             CA certificate(s) to trust for --tls
  --insecure            with --tls: do not verify the receiver's certificate
  --timeout SECONDS     ACK timeout per message (30)
  --quiet               no progress bar
  -h, --help            this help

Exit status: 0 when every message got AA (or CA), 1 otherwise, 2 on unreadable input.
`

#!/usr/bin/env bash
# Runs the daemon in the foreground on its embedded default config (no root:
# unprivileged ports, state under ./var/). Extra arguments go to `vigia run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec deno task start "$@"

#!/usr/bin/env bash
# The replay example: rebuild the tasks database from its command log into a new file and prove
# it identical to the live one, table by table (safe while the broker serves).
#
#   examples/replay/replay.sh [data-dir]
set -euo pipefail
data="${1:-data}"
target="$(mktemp -d)/tasks.db"
swift run sluice replay tasks --data-dir "$data" --into "$target" --verify
swift run sluice log tasks --data-dir "$data" | tail -n 3
echo "rebuilt copy: $target"

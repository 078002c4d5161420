#!/usr/bin/env bash
# Measures the service through its HTTP API with `phishloop load`: reports
# offered at a fixed rate, and how fast they are accepted and decided. Runs
# three set-ups one after the other, each on a fresh database:
#   sqlite      one `phishloop serve` on a SQLite file (its default workers)
#   postgres-1  one `phishloop serve --workers 1` on PostgreSQL
#   postgres-2  the same plus one `phishloop serve --worker-only --workers 1`
#
# Usage: scripts/bench-api.sh [MESSAGE_DIR] [RATE] [SECONDS]
#   MESSAGE_DIR  messages to send (default: ../corpus/phish/phishing_pot)
#   RATE         reports offered per second (default: 100)
#   SECONDS      seconds of sending per set-up (default: 30)
# Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust authentication);
# it creates and drops the database phishloop_bench there.
set -euo pipefail

cd "$(dirname "$0")/.."
messages="${1:-../corpus/phish/phishing_pot}"
rate="${2:-100}"
seconds="${3:-30}"
port=18025
server="http://127.0.0.1:$port"
postgres_url="postgres://postgres@127.0.0.1:5432/phishloop_bench"

cargo build --release --locked --quiet
bin="$PWD/target/release/phishloop"
scratch="$(mktemp -d)"
pids=()
stop_servers() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap 'stop_servers; rm -rf "$scratch"' EXIT

PHISHLOOP_ADMIN_TOKEN="bench-$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
export PHISHLOOP_ADMIN_TOKEN PHISHLOOP_TOKEN="$PHISHLOOP_ADMIN_TOKEN"

wait_healthy() {
    for _ in $(seq 1 100); do
        if curl -fsS "$server/healthz" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "the service did not respond on $server within 10 s; see $scratch/*.log" >&2
    return 1
}

fresh_postgres() {
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS phishloop_bench" >/dev/null
    createdb -h 127.0.0.1 -U postgres phishloop_bench
}

measure() {
    local name="$1"
    echo "== $name: $rate reports/s for $seconds s from $messages"
    "$bin" load "$messages" --server "$server" --rate "$rate" --duration "$seconds" \
        --reporter bench@corp-example.com --json >"$scratch/$name.json" || true
    cat "$scratch/$name.json"
    stop_servers
}

"$bin" serve --listen "127.0.0.1:$port" --data "$scratch/sqlite" >"$scratch/sqlite.log" 2>&1 &
pids+=($!)
wait_healthy
measure sqlite

fresh_postgres
"$bin" serve --listen "127.0.0.1:$port" --database "$postgres_url" --workers 1 >"$scratch/pg1.log" 2>&1 &
pids+=($!)
wait_healthy
measure postgres-1

fresh_postgres
"$bin" serve --listen "127.0.0.1:$port" --database "$postgres_url" --workers 1 >"$scratch/pg2-api.log" 2>&1 &
pids+=($!)
wait_healthy
"$bin" serve --database "$postgres_url" --worker-only --workers 1 >"$scratch/pg2-worker.log" 2>&1 &
pids+=($!)
measure postgres-2

psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS phishloop_bench" >/dev/null

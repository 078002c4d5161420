#!/usr/bin/env bash
# Runs every test of the workspace. The tests use real servers on this
# machine: PostgreSQL at 127.0.0.1:5432 (user postgres, trust
# authentication, database test), and Dovecot, OpenSMTPD and OpenLDAP's
# slapd from Debian's packages, which the tests start themselves on free
# loopback ports. This script starts PostgreSQL if it is down, installs
# the Debian packages that are missing (needs root), then runs cargo test
# and the browser tests of the web interface (scripts/browser-tests.sh,
# which installs Chromium and playwright-core when they are missing).
#
# Usage: scripts/test.sh [CARGO_TEST_ARGUMENTS...]
set -euo pipefail

cd "$(dirname "$0")/.."

ensure_postgres() {
    if ! command -v pg_isready >/dev/null; then
        echo "pg_isready not found: install PostgreSQL (Debian packages postgresql and postgresql-client)" >&2
        return 1
    fi
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        echo "PostgreSQL at 127.0.0.1:5432 is not accepting connections; starting it"
        for version in $(ls /etc/postgresql 2>/dev/null); do
            pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        done
        pg_isready -q -h 127.0.0.1 -p 5432 || service postgresql start || true
        for _ in $(seq 1 30); do
            pg_isready -q -h 127.0.0.1 -p 5432 && break
            sleep 1
        done
    fi
    if ! pg_isready -h 127.0.0.1 -p 5432; then
        echo "PostgreSQL at 127.0.0.1:5432 did not start within 30 s; the store tests need it" >&2
        return 1
    fi
    if [ "$(psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'")" != 1 ]; then
        createdb -h 127.0.0.1 -U postgres test
    fi
}

ensure_postgres
scripts/mail-servers.sh
scripts/ldap-server.sh
cargo test --workspace --locked "$@"
scripts/browser-tests.sh

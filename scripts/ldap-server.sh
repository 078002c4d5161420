#!/usr/bin/env bash
# Installs OpenLDAP's server (Debian package slapd) and client tools
# (ldap-utils) without prompts, for the phishloop-identity LDAP tests.
#
# The package's own directory and its system service are not used: the
# tests write a config to a temporary folder and start their own slapd on
# a free port on 127.0.0.1, then stop it. So the script stops the service
# that the package starts, and does nothing when slapd is already present.
#
# Usage: scripts/ldap-server.sh   (as root, or with sudo available)
set -euo pipefail

if command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ]; then
    echo "slapd is already installed: $(/usr/sbin/slapd -VV 2>&1 | head -n 1)"
    exit 0
fi

run_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "installing slapd needs root: run this script as root or install sudo" >&2
        exit 1
    fi
}

# Skip the package's interactive default configuration: the tests never use
# the system directory.
run_as_root debconf-set-selections <<'SELECTIONS'
slapd slapd/no_configuration boolean true
SELECTIONS

export DEBIAN_FRONTEND=noninteractive
run_as_root apt-get update -q
run_as_root apt-get install -y -q --no-install-recommends slapd ldap-utils

# The package may start the system service; the tests do not need it.
if command -v service >/dev/null 2>&1; then
    run_as_root service slapd stop >/dev/null 2>&1 || true
fi

echo "installed: $(/usr/sbin/slapd -VV 2>&1 | head -n 1)"

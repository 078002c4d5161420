#!/usr/bin/env bash
# Installs the Debian mail servers that the phishloop-mail tests start on
# loopback: Dovecot (IMAP, LMTP and the submission service), OpenSMTPD
# (SMTP) and the openssl command for the test certificates. It only installs
# packages. The tests write their own configurations into a temporary
# folder and start and stop their own server processes.
#
# Needs root (apt-get). Packages that are already installed are left alone,
# so a second run costs no download.
set -euo pipefail

packages=(dovecot-imapd dovecot-lmtpd dovecot-submissiond opensmtpd openssl)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "mail-servers: ${packages[*]} are already installed"
    exit 0
fi

echo "mail-servers: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d exit code 101 keeps the packages' own services from starting:
# the tests run their own instances on free ports and need none on 25/143.
policy=/usr/sbin/policy-rc.d
created_policy=false
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=true
fi
status=0
apt-get install -y -qq --no-install-recommends "${missing[@]}" || status=$?
if [ "$created_policy" = true ]; then
    rm -f "$policy"
fi
if [ "$status" -ne 0 ]; then
    echo "mail-servers: apt-get install ${missing[*]} failed with status $status" >&2
    exit "$status"
fi
echo "mail-servers: installed ${missing[*]}"

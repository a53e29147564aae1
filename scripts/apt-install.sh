#!/usr/bin/env bash
# Install the Debian packages named as arguments that are not installed yet.
#
#   scripts/apt-install.sh wrk chromium
#
# Nothing to do is not an error. Installing needs root; without it the script
# names the missing packages and fails. `apt-get update` runs once per call,
# and only when something is missing.
set -euo pipefail

missing=()
for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "apt-install: missing Debian packages: ${missing[*]}" >&2
    echo "apt-install: install them (as root: apt-get install -y ${missing[*]}) and try again" >&2
    exit 1
fi

echo "apt-install: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Bounded: a registry that does not answer must not hang CI until its time limit.
timeout 600 apt-get update -qq
timeout 1200 apt-get install -y -qq --no-install-recommends "${missing[@]}"

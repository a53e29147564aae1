#!/usr/bin/env bash
# Create the project's virtual environment (default .venv) with Python 3.11 or newer.
#
# Debian ships venv's pip bootstrap in a separate package (python3.11-venv); when it
# is missing and we are root, it is installed and the venv created again.
set -euo pipefail

venv=${1:-.venv}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

python=$(command -v python3.11 || command -v python3 || true)
[ -n "$python" ] || {
    echo "make-venv: Python 3.11 not found (neither python3.11 nor python3 is on PATH)" >&2
    exit 1
}
version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "make-venv: $python is Python $version; SecGate needs 3.11 or newer" >&2
    exit 1
}

create() { "$python" -m venv "$venv" >/dev/null 2>&1 || { rm -rf "$venv"; return 1; }; }

echo "make-venv: creating $venv with $python (Python $version)"
if ! create; then
    "$here/apt-install.sh" "python$version-venv"
    create || {
        rm -rf "$venv"
        "$python" -m venv "$venv" # once more, to show the error
        exit 1
    }
fi

#!/usr/bin/env bash
# Install the Debian packages the full test suite uses: chromium (browser tests) and
# postgresql (team database tests). Needs root; anything already present is left alone.
# Without root it says what is missing, and the tests that need it skip (outside CI).
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: not root, so these Debian packages are not installed: ${missing[*]}" >&2
  echo "system-deps: install them (sudo apt-get install ${missing[*]}) to run every test" >&2
  exit 0
fi
echo "system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2

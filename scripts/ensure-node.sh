#!/usr/bin/env bash
# Make sure Node.js >= 20.19 and npm exist (the canvas's build: Vite, TypeScript, Playwright).
# Installs them through apt when missing or too old: Debian's own nodejs first, and when that
# is older (Debian 12 ships 18), NodeSource's apt repository for Node.js 22.
set -euo pipefail
MIN_MAJOR=20
MIN_MINOR=19

node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || return 1
  local version major minor
  version=$(node --version | sed 's/^v//')
  major=${version%%.*}
  minor=$(echo "$version" | cut -d. -f2)
  [ "$major" -gt "$MIN_MAJOR" ] || { [ "$major" -eq "$MIN_MAJOR" ] && [ "$minor" -ge "$MIN_MINOR" ]; }
}

if node_ok; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
echo "Node.js >= $MIN_MAJOR.$MIN_MINOR not found: installing it through apt" >&2
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends nodejs npm || true
if node_ok; then exit 0; fi

echo "The distribution's Node.js is too old: adding NodeSource's apt repository (Node.js 22)" >&2
$SUDO apt-get install -y -q --no-install-recommends ca-certificates curl gnupg
$SUDO install -d -m 0755 /etc/apt/keyrings
curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key \
  | $SUDO gpg --dearmor --yes -o /etc/apt/keyrings/nodesource.gpg
echo "deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_22.x nodistro main" \
  | $SUDO tee /etc/apt/sources.list.d/nodesource.list >/dev/null
$SUDO apt-get update -q
$SUDO apt-get remove -y -q npm >/dev/null 2>&1 || true  # NodeSource's nodejs ships its own npm
$SUDO apt-get install -y -q nodejs
node_ok || { echo "Node.js is still missing or older than $MIN_MAJOR.$MIN_MINOR" >&2; exit 1; }

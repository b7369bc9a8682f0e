#!/usr/bin/env bash
# Make sure PostgreSQL server binaries exist (the embedded cluster needs initdb/postgres).
# Installs Debian's postgresql package when they are missing and DATABASE_URL is not set.
set -euo pipefail
if [ -n "${DATABASE_URL:-}" ]; then exit 0; fi
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
echo "PostgreSQL server binaries not found: installing Debian's postgresql package" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends postgresql postgresql-client

#!/usr/bin/env bash
# Make sure the Docker tests can have an Engine (tests/docker/engine.py): either one answers
# already (DOCKER_HOST, or the default socket), or dockerd and debootstrap are installed, so
# the tests can start a private dockerd and make their base image from Debian's packages.
# Installs Debian's docker.io and debootstrap packages when they are missing, and its
# docker-compose, with which tests/deploy/test_compose.py checks compose.yaml.
set -euo pipefail
has_compose() {
  command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1
}
if [ -n "${DOCKER_HOST:-}" ] || [ -S /var/run/docker.sock ]; then
  if { command -v debootstrap >/dev/null 2>&1 && has_compose; } || [ "$(id -u)" -ne 0 ]; then
    exit 0
  fi
fi
missing=()
command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
has_compose || missing+=(docker-compose)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "installing Debian's ${missing[*]} for the Docker backend's tests" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

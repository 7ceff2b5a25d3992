#!/usr/bin/env bash
# Installs the system packages Signet's build and tests need, when they are
# missing. As root it uses apt-get; otherwise it lists what to install and
# fails. Safe to run repeatedly: it does nothing when everything is present.
set -euo pipefail

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
want() { # want <package> <test command...>
  local pkg=$1; shift
  "$@" >/dev/null 2>&1 || need+=("$pkg")
}

want postgresql      bash -c 'ls /usr/lib/postgresql/*/bin/initdb'
want softhsm2        have_cmd softhsm2-util
want opensc          have_cmd pkcs11-tool
want poppler-utils   have_cmd pdfsig
want libnss3-tools   have_cmd certutil
want openssl         have_cmd openssl
want qpdf            have_cmd qpdf
want gcc             have_cmd gcc
want libc6-dev       test -e /usr/include/stdio.h
want python3         have_cmd python3
want util-linux      have_cmd runuser
want ca-certificates test -d /etc/ssl/certs
want chromium        test -x /usr/bin/chromium
want nodejs          have_cmd node
want npm             have_cmd npm

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing packages: ${need[*]}" >&2
  echo "install-deps: run as root, or: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

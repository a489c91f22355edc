#!/usr/bin/env bash
# Install Debian's Chromium for the dashboard's browser tests when it is missing (Playwright drives it;
# Playwright's own browser download cannot be reached here).
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "Chromium is installed: $(command -v chromium)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Chromium is missing and this is not root: run 'apt-get install -y chromium' as root" >&2
  exit 1
fi
echo "Chromium is missing: installing Debian's chromium package"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium
command -v chromium

#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests when it is missing (Playwright
# drives /usr/bin/chromium; no browser is ever downloaded by a test tool).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version

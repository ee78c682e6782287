#!/usr/bin/env bash
# Install the Debian packages the tests need: Chromium for the Playwright browser tests (no Playwright
# browser download) and strace for the no-outbound-connection test (native threads the audit hook cannot see).
# Idempotent: does nothing when they are already installed.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
PACKAGES="chromium fonts-dejavu-core fonts-noto-color-emoji strace"  # emoji font: the 👍/👎 labels in screenshots

missing=""
for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -x "$CHROMIUM" ] && [ -z "$missing" ]; then
    echo "chromium and strace already installed: $("$CHROMIUM" --version 2>/dev/null | tail -n 1)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: installing chromium needs root (run: apt-get install -y chromium)" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "installed:$missing ($("$CHROMIUM" --version 2>/dev/null | tail -n 1))"

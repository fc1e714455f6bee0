#!/usr/bin/env bash
# Install the Debian packages Lamina's examples and tests need.
#
# Idempotent and fast when everything is present: each package is checked with
# `dpkg -s` first, and `apt-get update` runs only when something is missing.
# Needs root only when it has to install; otherwise it prints what is missing
# and exits non-zero.
set -euo pipefail

# The one list. Keep it sorted by purpose.
REQUIRED_PACKAGES=(
    # Rust hello example: crates built offline from Debian's cargo registry
    # (/usr/share/cargo/registry); serde_json pulls in its own dependencies.
    librust-serde-json-dev
    # Paired examples (examples/paired): the Rust thumbnailer, order handler and
    # log analyser (image, regex, gzip, base64 and SHA-256, all from Debian).
    librust-base64-dev
    librust-flate2-dev
    librust-image-dev
    librust-regex+default-dev
    librust-sha2-dev
    # The cost tools' HTML report is checked in a headless browser.
    chromium
    # aws-lambda-ric (npm) compiles aws-lambda-cpp and curl from source.
    autoconf
    automake
    libtool
    cmake
    make
    g++
    pkg-config
    # Python's zipfile builds the example zips; zip is only a convenience.
    zip
    # The event examples' walkthrough (examples/events/README.md, and its test) uses curl.
    curl
    # The process sandbox: each environment's veth (iproute2) and the outbound NAT and
    # filter table (nftables).
    iproute2
    nftables
)

missing=()
for pkg in "${REQUIRED_PACKAGES[@]}"; do
    # dpkg -s succeeds for removed-but-configured packages too; check the status line.
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-system-deps: all ${#REQUIRED_PACKAGES[@]} packages already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: missing packages: ${missing[*]}" >&2
    echo "install-system-deps: run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-system-deps: done"

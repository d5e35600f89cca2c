#!/usr/bin/env bash
# Installs what Duet's build and tests need on a fresh Debian machine, idempotently: nothing is
# reinstalled when already present.
set -euo pipefail

need_cmd() { command -v "$1" >/dev/null 2>&1; }

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "setup: installing ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if ! need_cmd cargo; then
  echo "setup: cargo is missing; install Rust (https://rustup.rs) and rerun" >&2
  exit 1
fi
# rusqlite builds SQLite, and aws-lc-sys (under str0m's DTLS, for WebRTC) AWS-LC, from source
# with the C compiler (no cmake needed). Chromium and ffmpeg below also serve the WHIP test.
need_cmd cc || apt_install gcc libc6-dev
# Audio transcoding (crates/audio, Opus <-> AAC for WebRTC): libopus and libvo-aacenc (Apache-2.0),
# linked dynamically through pkg-config.
apt_install pkg-config libopus-dev libvo-aacenc-dev
# Real RTMP/FLV peers for the media tests: ffmpeg/ffprobe (publish, play, decode) and rtmpdump;
# ffmpeg is also the mixer's engine (docs/mixing.md).
apt_install ffmpeg rtmpdump
# The cluster tests' Redis (Debian's redis-server, started by each test on a loopback port).
apt_install redis-server
# The ACME test's CA (crates/server/tests/acme.rs): Debian's pebble, with pebble-challtestsrv as its DNS.
apt_install pebble
# scripts/duet-api.sh (signed API calls, also tested) uses curl and openssl.
apt_install curl openssl
# The Debian package (scripts/deb.sh, tested by scripts/deb-test.sh): dpkg-dev builds it,
# adduser makes its user, systemd-analyze checks its unit, setpriv (util-linux) runs it as that user.
apt_install dpkg-dev adduser systemd util-linux
# The mini-program SDK's build (TypeScript) and tests (node:test, ws) run on Node.js.
need_cmd node || apt_install nodejs npm
npm_ci() {
  local dir=$1 stamp="$1/node_modules/.installed-from-lock"
  if ! cmp -s "$dir/package-lock.json" "$stamp" 2>/dev/null; then
    echo "setup: installing npm packages in $dir" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
  fi
}
npm_ci sdk/miniprogram
# The Web SDK's build (TypeScript, esbuild bundles it into the module the server embeds).
npm_ci sdk/web
# Browser tests of the console and debug page: Debian's chromium driven by playwright-core.
apt_install chromium
npm_ci web

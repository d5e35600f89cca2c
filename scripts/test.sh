#!/usr/bin/env bash
# Runs every Duet test: the Rust workspace (unit tests, and integration tests that start the real
# `duet` binary on loopback ports), the Debian package (built, installed, run, purged), then the
# mini-program SDK's tests and the browser tests of
# the console and debug page (which drive that binary; screenshots go to target/artifacts/), after
# checking that the Web SDK bundle the server embeds is what sdk/web's sources build.
# Installs what a fresh machine lacks first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace --locked
# The Debian package: built around the binary the tests just used (`scripts/deb.sh` alone builds
# the release one; CI spares the second build and its disk), installed with dpkg, started as its
# unit starts it, reinstalled and purged (root only; it says when it skips).
DUET_BIN="${CARGO_TARGET_DIR:-target}/debug/duet" scripts/deb-test.sh
(cd sdk/miniprogram && npm test --silent)
(cd sdk/web && npm test --silent)
(cd web && npm test --silent)

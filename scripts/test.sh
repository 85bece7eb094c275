#!/usr/bin/env bash
# Runs every test on a fresh Debian machine: installs what is needed, then
# vet/gofmt/cgo-free checks and the whole test suite with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
./scripts/install-deps.sh
make check
make test

#!/usr/bin/env bash
# Runs every fuzz target of the project for a while each (default 20s):
#   scripts/fuzz.sh [DURATION] [FIRST-TARGET]
# Every target runs even when one fails; the failures are listed at the
# end (a crasher is kept in the package's testdata/fuzz/TARGET/) and the
# exit status is 1. FIRST-TARGET starts the list at that target.
set -uo pipefail
cd "$(dirname "$0")/.."
t=${1:-20s}
from=${2:-}
failed=()
for pkg in $(go list ./pkg/... ./internal/... ./cmd/...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		if [ -n "$from" ] && [ "$f" != "$from" ]; then
			continue
		fi
		from=
		echo "== $pkg $f"
		# Minimizing a new corpus entry is bounded too: one still being
		# minimized when the fuzz time ends is reported by go test as a
		# failure ("context deadline exceeded") with no failing input.
		if ! go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" -fuzzminimizetime 5s "$pkg"; then
			failed+=("$pkg $f")
		fi
	done
done
if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz: failed: %s\n' "${failed[@]}"
	exit 1
fi
echo "fuzz: every target ran for $t without a failure"

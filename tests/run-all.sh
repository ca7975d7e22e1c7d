#!/bin/sh
# make test: unit tests, golden tests of the rule pack, integration tests
# with real servers. Each suite is one count; the last line sums them.
build=${1:-build}
cd "$(dirname "$0")/.." || exit 1
pass=0; fail=0; failed=""
run() {
    name=$1; shift
    echo "=== $name"
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $name"; fi
}
for t in "$build"/tests/test_*; do
    [ -x "$t" ] && run "unit $(basename "$t")" "$t"
done
run "rule tests of the shipped pack" "$build/detector" test -c config/detector.conf
run "golden" sh tests/golden/run.sh "$build"
run "readme" sh tests/check-readme.sh "$build"
run "format" sh tests/check-format.sh
run "fuzz smoke" make --no-print-directory fuzz FUZZ_SECONDS=5
for t in tests/integration/test_*.sh; do
    [ -f "$t" ] && run "integration $(basename "$t" .sh)" bash "$t" "$build"
done
[ -n "$failed" ] && echo "failed suites:$failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/usr/bin/env bash
# make test-faults: the fault-injection suite at full size.
#
#   bash tests/faults/run.sh [BUILD] [TEST...]
#
# TEST is a script name without .sh (kill9 redis kafka rebalance sigterm
# scale_out poison; default: all, in that order). FAULTS_SIZE=short runs the sizes
# of make test instead. Each test prints its checks and the figures it
# measured; at the end a table of the results and every figure, also written
# to BUILD/faults.txt (the figures alone, tab-separated, to
# BUILD/faults-figures.tsv). Exit 0 when every test passed.
BUILD=${1:-build}
shift
cd "$(dirname "$0")/../.." || exit 1
tests=${*:-kill9 redis kafka rebalance sigterm scale_out poison}
export FAULTS_SIZE=${FAULTS_SIZE:-full}
export FAULTS_FIGURES="$PWD/$BUILD/faults-figures.tsv"
mkdir -p "$BUILD"
: >"$FAULTS_FIGURES"
results=""
fail=0
for t in $tests; do
    echo "=== faults $t ($FAULTS_SIZE)"
    start=${EPOCHREALTIME%.*}
    if bash "tests/faults/$t.sh" "$BUILD"; then r=passed; else r=FAILED; fail=$((fail + 1)); fi
    results="$results$t $r $((${EPOCHREALTIME%.*} - start))
"
done
{
    echo
    echo "fault suite ($FAULTS_SIZE):"
    printf '%-12s %-7s %s\n' test result seconds
    printf '%s' "$results" | while read -r t r s; do printf '%-12s %-7s %s\n' "$t" "$r" "$s"; done
    echo
    echo "figures:"
    awk -F'\t' '{ printf "%-10s %s = %s\n", $1, $2, $3 }' "$FAULTS_FIGURES"
} | tee "$BUILD/faults.txt"
[ "$fail" -eq 0 ]

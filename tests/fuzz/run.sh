#!/bin/sh
# make fuzz: runs the libFuzzer targets of BUILD (build-fuzz) for SECONDS
# each, from the repository root; exits 1 if any found a crash, a leak, a
# sanitizer report or a timeout.
#
# Per target:
# 1. replays tests/fuzz/regressions/TARGET/* (inputs that once failed);
# 2. fuzzes with the corpus BUILD/corpus/TARGET (kept between runs) and the
#    seeds made from the golden files in BUILD/seeds/TARGET (made anew here):
#    fuzz_event one event per line of tests/golden/*/*.events.jsonl,
#    fuzz_eval those files whole, fuzz_rules the shipped rule files, the
#    bad rule files of tests/golden/rules-bad/ and the whole pack as one
#    file; and the hand-written tests/fuzz/seeds/*.events.jsonl and *.rules
#    (text that is not ASCII, escapes, rare forms);
# 3. prints the runs and runs per second, or the fuzzer's report and where
#    the failing input was saved (BUILD/artifacts/TARGET/).
#
# Usage: tests/fuzz/run.sh [BUILD [SECONDS]]
build=${1:-build-fuzz}
secs=${2:-60}
cd "$(dirname "$0")/../.." || exit 1
targets="fuzz_event fuzz_rules fuzz_eval"
seeds=$build/seeds

rm -rf "$seeds"
for t in $targets; do
    mkdir -p "$seeds/$t" "$build/corpus/$t" "$build/artifacts/$t" "$build/logs" || exit 1
done
for f in tests/golden/policy/*.events.jsonl tests/golden/explain/*.events.jsonl \
    tests/fuzz/seeds/*.events.jsonl; do
    [ -f "$f" ] || continue
    name=$(basename "$f" .events.jsonl)
    awk -v p="$seeds/fuzz_event/$name-" 'NF { f = p FNR; print > f; close(f) }' "$f"
    cp "$f" "$seeds/fuzz_eval/$name"
done
for f in config/rules/*.rules tests/golden/rules-bad/*/*.rules tests/golden/explain/*.rules/*.rules \
    tests/fuzz/seeds/*.rules; do
    [ -f "$f" ] && cp "$f" "$seeds/fuzz_rules/$(echo "$f" | tr / _)"
done
# The shipped pack as one file without its test cases: a rule set that loads.
awk '/^test /{ t = 1 } !t { print } t && /^end/ { t = 0 }' config/rules/*.rules \
    >"$seeds/fuzz_rules/pack.rules"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=""
for t in $targets; do
    bin=$build/$t
    log=$build/logs/$t.log
    # Longer inputs only slow the rule and evaluation fuzzers down: 8 KiB holds
    # the whole shipped pack without its tests, 4 KiB a dozen events (and the
    # evaluator's state carries over from input to input).
    case $t in
    fuzz_event) dict=tests/fuzz/event.dict max_len=0 ;;
    fuzz_rules) dict=tests/fuzz/rules.dict max_len=8192 ;;
    fuzz_eval) dict=tests/fuzz/event.dict max_len=4096 ;;
    esac
    regressions=$(find "tests/fuzz/regressions/$t" -type f 2>/dev/null | sort)
    if [ -n "$regressions" ]; then
        # shellcheck disable=SC2086 # one argument per file; the names have no spaces
        if ! "$bin" $regressions >"$build/logs/$t.regressions.log" 2>&1; then
            echo "FAIL $t: a stored regression fails again:"
            tail -n 60 "$build/logs/$t.regressions.log"
            failed="$failed $t"
            continue
        fi
        nreg=$(echo "$regressions" | wc -l)
    else
        nreg=0
    fi
    "$bin" -max_total_time="$secs" -max_len="$max_len" -timeout=10 -print_final_stats=1 -dict="$dict" \
        -artifact_prefix="$build/artifacts/$t/" "$build/corpus/$t" "$seeds/$t" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    corpus=$(find "$build/corpus/$t" -type f | wc -l)
    if [ "$rc" -ne 0 ]; then
        echo "FAIL $t (exit $rc), log $log:"
        tail -n 60 "$log"
        echo "inputs saved in $build/artifacts/$t/:"
        ls -t "$build/artifacts/$t" | head -n 5
        failed="$failed $t"
        continue
    fi
    echo "$t: ${runs:-?} runs in ${secs}s (${rate:-?}/s), corpus $corpus inputs," \
        "regressions: $nreg replayed, no finding"
done
if [ -n "$failed" ]; then
    echo "fuzz: findings in$failed"
    exit 1
fi
echo "fuzz: no findings"

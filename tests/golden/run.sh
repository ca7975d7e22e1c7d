#!/bin/sh
# Golden tests, run from the repository root:
#  - tests/golden/policy/NAME.events.jsonl replayed with the shipped pack must
#    print exactly tests/golden/policy/NAME.expected.jsonl;
#  - tests/golden/rules-bad/NAME/ (a rule directory) must fail `detector
#    check --rules` with exactly the text of tests/golden/rules-bad/NAME.expected.
build=${1:-build}
det="$build/detector"
pass=0; fail=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
for ev in tests/golden/policy/*.events.jsonl; do
    [ -f "$ev" ] || continue
    name=${ev%.events.jsonl}
    if ! "$det" replay -c config/detector.conf "$ev" >"$tmp/out" 2>"$tmp/err"; then
        echo "FAIL $ev: replay exited non-zero"; cat "$tmp/err"; fail=$((fail + 1)); continue
    fi
    if diff -u "$name.expected.jsonl" "$tmp/out" >"$tmp/diff"; then
        pass=$((pass + 1))
    else
        echo "FAIL $ev"; cat "$tmp/diff"; fail=$((fail + 1))
    fi
done
for dir in tests/golden/rules-bad/*/; do
    [ -d "$dir" ] || continue
    dir=${dir%/}
    if "$det" check -c config/detector.conf --rules "$dir" >"$tmp/out" 2>"$tmp/err"; then
        echo "FAIL $dir: check accepted a bad rule file"; fail=$((fail + 1)); continue
    fi
    if diff -u "$dir.expected" "$tmp/err" >"$tmp/diff"; then
        pass=$((pass + 1))
    else
        echo "FAIL $dir"; cat "$tmp/diff"; fail=$((fail + 1))
    fi
done
# tests/golden/explain/NAME.events.jsonl replayed with --explain (plus the
# options in NAME.args, and --rules NAME.rules when that directory exists)
# must print exactly tests/golden/explain/NAME.expected.
for ev in tests/golden/explain/*.events.jsonl; do
    [ -f "$ev" ] || continue
    name=${ev%.events.jsonl}
    args="--explain"
    [ -f "$name.args" ] && args="$args $(cat "$name.args")"
    [ -d "$name.rules" ] && args="$args --rules $name.rules"
    # shellcheck disable=SC2086 # args are words
    if ! "$det" replay -c config/detector.conf $args "$ev" >"$tmp/out" 2>"$tmp/err"; then
        echo "FAIL $ev: replay --explain exited non-zero"; cat "$tmp/err"; fail=$((fail + 1)); continue
    fi
    if diff -u "$name.expected" "$tmp/out" >"$tmp/diff"; then
        pass=$((pass + 1))
    else
        echo "FAIL $ev"; cat "$tmp/diff"; fail=$((fail + 1))
    fi
done
echo "golden: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]

#!/bin/sh
# README.md must stay true:
#  1. its configuration reference equals what the code's table prints;
#  2. the tutorial's rule and tests work with the shipped pack.
build=${1:-build}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
sed -n '/<!-- config-reference: begin -->/,/<!-- config-reference: end -->/p' README.md | sed '1d;$d' >"$tmp/ref"
if "$build/detector" config-reference | diff -u "$tmp/ref" -; then
    pass=$((pass + 1))
else
    fail=$((fail + 1)); echo "README configuration table differs from: $build/detector config-reference"
fi
# The tutorial: the first code block after "1. Write the rule" and the one after "3. Test it".
mkdir "$tmp/rules" && cp config/rules/*.rules "$tmp/rules/"
awk '/^\*\*1\. Write the rule/{f=1} f&&/^```/{n++; next} f&&n==1{print} n>=2{exit}' README.md >"$tmp/rules/50-new-country.rules"
awk '/^\*\*3\. Test it/{f=1} f&&/^```/{n++; next} f&&n==1{print} n>=2{exit}' README.md >>"$tmp/rules/50-new-country.rules"
if grep -q '^rule approval-new-country' "$tmp/rules/50-new-country.rules" &&
   "$build/detector" test -c config/detector.conf --rules "$tmp/rules" >"$tmp/out" 2>&1 &&
   grep -q 'ok   three approvals at home' "$tmp/out"; then
    pass=$((pass + 1))
else
    fail=$((fail + 1)); echo "README tutorial does not work:"; cat "$tmp/out"
fi
echo "readme: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

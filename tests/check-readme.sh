#!/bin/sh
# The configuration reference in README.md must equal what the code's table
# prints (build/detector config-reference), so the two cannot drift.
build=${1:-build}
tmp=$(mktemp) || exit 1
sed -n '/<!-- config-reference: begin -->/,/<!-- config-reference: end -->/p' README.md | sed '1d;$d' >"$tmp"
if "$build/detector" config-reference | diff -u "$tmp" - ; then
    echo "readme: 1 passed, 0 failed"; rm -f "$tmp"; exit 0
fi
echo "readme: 0 passed, 1 failed (update README.md from: $build/detector config-reference)"
rm -f "$tmp"
exit 1

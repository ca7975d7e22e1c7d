#!/usr/bin/env bash
# make bench cannot rot: the harness (tests/bench/run.sh) on a tiny stream,
# with a live part of a few thousand events, writes every required figure as
# a positive number (to its own file: build/bench.json is left alone).
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"

start=$SECONDS
BENCH_EVENTS=20000 BENCH_IDENTITIES=2000 BENCH_LIVE_EVENTS=3000 BENCH_LATENCY_SECONDS=5 \
    BENCH_JSON="$WORK/bench.json" bash "$ROOT/tests/bench/run.sh" "$BUILD" >"$WORK/bench.out" 2>"$WORK/bench.err"
rc=$?
check "the harness ran to the end (exit $rc)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || tail -20 "$WORK/bench.err" >&2
check "it printed the table with the targets" grep -q '^live p99 < 20 ms at half the maximal rate' "$WORK/bench.out"
for key in baseline_eps replay_eps live_eps live_p50_ms live_p99_ms redis_bytes_per_identity \
    detector_rss_mib events identities live_events baseline_cpu_s_per_m replay_cpu_s_per_m \
    live_cpu_s_per_m replay_rss_mib live_max_ms redis_commands_per_event redis_command_us_per_event; do
    v=$(sed -n "s/^  \"$key\": \([0-9.]*\),*$/\1/p" "$WORK/bench.json" 2>/dev/null)
    check "bench.json: $key = ${v:-(missing)} is a positive number" \
        awk -v v="$v" 'BEGIN { exit !(v ~ /^[0-9]+(\.[0-9]+)?$/ && v + 0 > 0) }'
done
for key in live_redis_cpu_s_per_m live_mock_cpu_s_per_m live_producer_cpu_s_per_m; do
    v=$(sed -n "s/^  \"$key\": \([0-9.]*\),*$/\1/p" "$WORK/bench.json" 2>/dev/null)
    check "bench.json: $key = ${v:-(missing)} is a number" \
        awk -v v="$v" 'BEGIN { exit !(v ~ /^[0-9]+(\.[0-9]+)?$/) }'
done
v=$(sed -n 's/^  "live_machine_busy_pct": \([0-9]*\),$/\1/p' "$WORK/bench.json")
check "bench.json: live_machine_busy_pct = ${v:-(missing)} is in 1..100" \
    awk -v v="$v" 'BEGIN { exit !(v ~ /^[0-9]+$/ && v >= 1 && v <= 100) }'
check "bench.json: Redis's commands, with ZADD among them" grep -q '"zadd": {"per_event": [0-9.]*, "us_per_call": [0-9.]*}' "$WORK/bench.json"
check "the live part is the 3,000 events asked for" grep -q '"live_events": 3000,' "$WORK/bench.json"
check "under 60 s ($((SECONDS - start)) s)" test $((SECONDS - start)) -lt 60
finish

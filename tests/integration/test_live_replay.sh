#!/usr/bin/env bash
# Live equals replay, and a redelivered stream changes nothing.
# One partition, so the live order is the replay order and the actions must
# be byte-identical, in the same order.
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"

"$GEN" --events 4000 --identities 300 --attacks 6 --seed 7 >"$WORK/events.jsonl"
"$DET" replay -c "$ROOT/config/detector.conf" "$WORK/events.jsonl" >"$WORK/replay.jsonl" 2>"$WORK/replay.err"
n=$(wc -l <"$WORK/replay.jsonl")
check "replay decided something ($n actions)" test "$n" -gt 50

start_redis
start_kafka 1
write_conf "$WORK/detector.conf"
start_detector "$WORK/detector.conf" "$WORK/detector.log"
produce auth.events "$WORK/events.jsonl"
wait_actions "$n" "$WORK/live.jsonl"
check "the daemon warns of Redis's default zset-max-listpack-value" grep -q 'zset-max-listpack-value is 64' "$WORK/detector.log"
check "live published $n actions" test "$(wc -l <"$WORK/live.jsonl")" -eq "$n"
check "live actions are byte-identical to replay, in order" cmp -s "$WORK/replay.jsonl" "$WORK/live.jsonl"
if ! cmp -s "$WORK/replay.jsonl" "$WORK/live.jsonl"; then diff "$WORK/replay.jsonl" "$WORK/live.jsonl" | head -5 >&2; fi

# The state the platform reads.
blk=$(grep '"kind":"block_identity","identity":"[^"]*","rule":"[^"]*","severity":"[^"]*","mode":"enforce"' "$WORK/replay.jsonl" | tail -1)
bid=$(printf '%s' "$blk" | sed 's/.*"identity":"\([^"]*\)".*/\1/')
check "a blocked identity has its block hash" test "$(rcli hget "sad:{$bid}:block" rule)" != ""
enf=$(grep -c "\"identity\":\"$bid\".*\"mode\":\"enforce\"" "$WORK/replay.jsonl")
check "its activity list holds one entry per enforced action ($enf)" test "$(rcli llen "sad:{$bid}:activity")" -eq "$enf"
shadow_aid=$(grep '"mode":"shadow"' "$WORK/replay.jsonl" | head -1 | sed 's/.*"action_id":"\([0-9a-f]*\)".*/\1/')
check "shadow actions are in no activity list" test -z "$(rcli --scan --pattern 'sad:*:activity' | while read -r k; do rcli lrange "$k" 0 -1; done | grep -F "$shadow_aid")"

# Redelivery: the same events again change no state and give no new action id.
redis_dump >"$WORK/dump1"
produce auth.events "$WORK/events.jsonl"
marker_event 1 2026-12-30T00:00:00Z >"$WORK/marker1.jsonl"
produce auth.events "$WORK/marker1.jsonl"
check "the redelivered stream was consumed (marker seen)" wait_marker 1
rcli --scan --pattern 'sad:{marker-1}:*' | while read -r k; do rcli del "$k" >/dev/null; done
redis_dump >"$WORK/dump2"
IDLE_MS=3000 consume auth.actions 0 "$WORK/all.jsonl"
grep -v '"identity":"marker-' "$WORK/all.jsonl" >"$WORK/all-nomarker.jsonl"
check "redelivered stream: no new action id" cmp -s <(action_ids "$WORK/replay.jsonl") <(action_ids "$WORK/all-nomarker.jsonl")
check "redelivered stream: Redis state unchanged" cmp -s "$WORK/dump1" "$WORK/dump2"
cmp -s "$WORK/dump1" "$WORK/dump2" || diff "$WORK/dump1" "$WORK/dump2" | head -10 >&2

stop_detector TERM
check "SIGTERM: clean exit" test "$DETECTOR_RC" -eq 0
# Per-rule statistics, readable while it runs (rewritten every 200 ms, last at exit).
check "statistics file: every event counted once per delivery (8001)" grep -q '"events": 8001' "$WORK/stats-detector.json"
check "statistics file: all 10 rules" test "$(grep -c '"rule":' "$WORK/stats-detector.json")" -eq 10
# Events with actions were published again from the outbox, exactly as decided.
triggers=$(grep -o '"events":\[[^]]*\]' "$WORK/replay.jsonl" | sed 's/.*"\([^"]*\)"\]$/\1/' | sort -u | wc -l)
check "statistics file: $triggers events republished from the outbox" grep -q "\"republished\": $triggers," "$WORK/stats-detector.json"
check "every action was published again, byte for byte" \
    cmp -s <(sort "$WORK/replay.jsonl" "$WORK/replay.jsonl") <(sort "$WORK/all-nomarker.jsonl")
finish

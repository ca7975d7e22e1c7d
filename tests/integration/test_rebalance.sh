#!/usr/bin/env bash
# Rebalances: a second daemon joins the group in the middle of a stream, then
# the first one leaves (SIGTERM): every event is processed, every action id
# is the replay's, and the Redis state equals a single daemon's.
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"

"$GEN" --events 12000 --identities 1500 --attacks 5 --no-proxy --seed 13 >"$WORK/events.jsonl"
for i in $(seq 1 40); do marker_event "$i" "2026-12-31T00:00:$(printf %02d "$i")Z"; done >"$WORK/markers.jsonl"
cat "$WORK/events.jsonl" "$WORK/markers.jsonl" >"$WORK/stream.jsonl"
"$DET" replay -c "$ROOT/config/detector.conf" "$WORK/stream.jsonl" >"$WORK/replay.jsonl" 2>/dev/null
start_kafka 4
produce auth.events "$WORK/stream.jsonl"

# Reference: one daemon, no rebalance.
start_redis
write_conf "$WORK/b.conf"
sed -i 's/^group.id = .*/group.id = single/; s/^topic.actions = .*/topic.actions = auth.actions.single/' "$WORK/b.conf"
start_detector "$WORK/b.conf" "$WORK/b.log"
"$KTOOL" consume -b "$BOOTSTRAP" -t auth.actions.single --from-beginning --count "$(wc -l <"$WORK/replay.jsonl")" \
    --idle-ms 60000 --timeout-ms 180000 >/dev/null 2>>"$WORK/consume.log"
final_keys=$(rcli dbsize)
stop_detector TERM
redis_dump >"$WORK/dump-single"

# Two daemons in one group, small batches so that the stream lasts.
start_redis
BATCH_SIZE=50 write_conf "$WORK/a.conf"
start_detector "$WORK/a.conf" "$WORK/a1.log"
PID_1=$DETECTOR_PID
for _ in $(seq 1 1200); do [ "$(rcli dbsize)" -ge $((final_keys / 5)) ] && break; sleep 0.05; done
start_detector "$WORK/a.conf" "$WORK/a2.log"
PID_2=$DETECTOR_PID
log "second daemon joined at $(rcli dbsize) of $final_keys keys"
for _ in $(seq 1 1200); do [ "$(rcli dbsize)" -ge $((final_keys * 3 / 5)) ] && break; sleep 0.05; done
kill -TERM "$PID_1"; wait "$PID_1"; rc1=$?
log "first daemon left at $(rcli dbsize) of $final_keys keys"
check "the leaving daemon exited cleanly" test "$rc1" -eq 0
for _ in $(seq 1 40); do
    IDLE_MS=2500 consume auth.actions 0 "$WORK/actions.jsonl"
    [ "$(grep -c '"identity":"marker-' "$WORK/actions.jsonl")" -ge 40 ] && break
done
check "both daemons saw a rebalance" grep -q "revoked" "$WORK/a1.log"
check "the second daemon took partitions" grep -q "assigned" "$WORK/a2.log"
check "rebalances: the same action ids as replay" cmp -s <(action_ids "$WORK/replay.jsonl") <(action_ids "$WORK/actions.jsonl")
redis_dump >"$WORK/dump-two"
check "rebalances: Redis state equals a single daemon's" cmp -s "$WORK/dump-two" "$WORK/dump-single"
cmp -s "$WORK/dump-two" "$WORK/dump-single" || diff "$WORK/dump-two" "$WORK/dump-single" | head -10 >&2
log "published $(wc -l <"$WORK/actions.jsonl") messages for $(action_ids "$WORK/actions.jsonl" | wc -l) distinct actions"
DETECTOR_PID=$PID_2
stop_detector TERM
finish

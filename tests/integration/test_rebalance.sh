#!/usr/bin/env bash
# Rebalances: a second daemon joins the group in the middle of a stream, then
# the first one leaves (SIGTERM): every event is processed, every action id
# is the replay's, and the Redis state equals a single daemon's.
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"

prepare_stream 12000 1500 13 40 --attacks 5 --no-proxy
start_kafka 4
produce auth.events "$WORK/stream.jsonl"
reference_run single   # one daemon, no rebalance

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
collect_actions 40 "$WORK/actions.jsonl"
check "both daemons saw a rebalance" grep -q "revoked" "$WORK/a1.log"
check "the second daemon took partitions" grep -q "assigned" "$WORK/a2.log"
check "rebalances: the same action ids as replay" cmp -s <(action_ids "$WORK/replay.jsonl") <(action_ids "$WORK/actions.jsonl")
check_state "rebalances: Redis state equals a single daemon's" "$WORK/dump-single"
log "published $(wc -l <"$WORK/actions.jsonl") messages for $(action_ids "$WORK/actions.jsonl" | wc -l) distinct actions"
DETECTOR_PID=$PID_2
stop_detector TERM
finish

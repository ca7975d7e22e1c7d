#!/usr/bin/env bash
# Redis killed in the middle of a stream and restarted (with AOF): the
# daemon pauses, retries, resumes, and skips nothing: the same actions as
# replay and the same Redis state as a run without the outage.
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"

prepare_stream 4000 300 5 20 --attacks 6 --no-proxy
start_kafka 2
produce auth.events "$WORK/stream.jsonl"
reference_run clean   # no outage
mv "$WORK/dump-clean" "$WORK/dump-b"

# The outage: Redis with AOF (fsync always), killed at about half the state.
rm -rf "$WORK/redis"
start_redis --appendonly yes --appendfsync always
write_conf "$WORK/a.conf"
start_detector "$WORK/a.conf" "$WORK/a.log"
for _ in $(seq 1 1200); do
    [ "$(rcli dbsize 2>/dev/null || echo 0)" -ge $((final_keys / 2)) ] && break
    sleep 0.02
done
kill -KILL "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null
log "redis killed"
sleep 3
check "the daemon survives Redis going away" kill -0 "$DETECTOR_PID"
restart_redis --appendonly yes --appendfsync always
collect_actions 20 "$WORK/a-actions.jsonl"
check "the daemon logged the outage and the recovery" grep -q "state store is back" "$WORK/a.log"
check "outage: the same action ids as replay" cmp -s <(action_ids "$WORK/replay.jsonl") <(action_ids "$WORK/a-actions.jsonl")
check_state "outage: Redis state equals the run without outage" "$WORK/dump-b"
stop_detector TERM
finish

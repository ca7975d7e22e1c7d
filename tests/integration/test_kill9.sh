#!/usr/bin/env bash
# kill -9 of the daemon twice in the middle of a stream of 20,000 events over
# 4 partitions, each time restarted: every action exactly once by action_id
# (the same ids as replay), and the Redis state equal to that of a daemon
# that was never killed (so every count is as if each event came once).
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"

prepare_stream 20000 2000 11 40 --attacks 5 --no-proxy
expected=$(action_ids "$WORK/replay.jsonl" | wc -l)
check "replay decided $expected actions" test "$expected" -gt 100
start_kafka 4
produce auth.events "$WORK/stream.jsonl"
reference_run clean   # run B: never killed
mv "$WORK/dump-clean" "$WORK/dump-b"
check "clean run: the same actions as replay" cmp -s <(action_ids "$WORK/replay.jsonl") <(action_ids "$WORK/clean-actions.jsonl")

# Run A: killed with SIGKILL at about 30% and 70% of the state written.
start_redis
write_conf "$WORK/a.conf"
start_detector "$WORK/a.conf" "$WORK/a.log"
kills=0
for frac in 30 70; do
    for _ in $(seq 1 1200); do
        [ "$(rcli dbsize)" -ge $((final_keys * frac / 100)) ] && break
        sleep 0.05
    done
    kill -KILL "$DETECTOR_PID"; wait "$DETECTOR_PID" 2>/dev/null
    kills=$((kills + 1))
    log "killed the daemon at $(rcli dbsize) of $final_keys keys"
    start_detector "$WORK/a.conf" "$WORK/a.log"
done
check "killed twice mid-stream" test "$kills" -eq 2
collect_actions 40 "$WORK/a-actions.jsonl"
log "run A published $(wc -l <"$WORK/a-actions.jsonl") messages, $(action_ids "$WORK/a-actions.jsonl" | wc -l) distinct ids"
check "after kill -9: every action exactly once by action_id" cmp -s <(action_ids "$WORK/replay.jsonl") <(action_ids "$WORK/a-actions.jsonl")
check_state "after kill -9: Redis state equals the never-killed run" "$WORK/dump-b"
stop_detector TERM
finish

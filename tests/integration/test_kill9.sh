#!/usr/bin/env bash
# kill -9 of the daemon twice in the middle of a stream of 20,000 events over
# 4 partitions, each time restarted: every action exactly once by action_id
# (the same ids as replay), and the Redis state equal to that of a daemon
# that was never killed (so every count is as if each event came once).
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"

N=20000
"$GEN" --events $N --identities 2000 --attacks 5 --no-proxy --seed 11 >"$WORK/events.jsonl"
# Markers after the stream: their alerts prove every partition was consumed to the end.
for i in $(seq 1 40); do marker_event "$i" "2026-12-31T00:00:$(printf %02d "$i")Z"; done >"$WORK/markers.jsonl"
cat "$WORK/events.jsonl" "$WORK/markers.jsonl" >"$WORK/stream.jsonl"
"$DET" replay -c "$ROOT/config/detector.conf" "$WORK/stream.jsonl" >"$WORK/replay.jsonl" 2>/dev/null
expected=$(action_ids "$WORK/replay.jsonl" | wc -l)
check "replay decided $expected actions" test "$expected" -gt 100

start_kafka 4
produce auth.events "$WORK/stream.jsonl"

# Run B: never killed; its own Redis, group and actions topic.
start_redis
PORT_B=$REDIS_PORT
write_conf "$WORK/b.conf"
sed -i 's/^group.id = .*/group.id = clean/; s/^topic.actions = .*/topic.actions = auth.actions.clean/' "$WORK/b.conf"
start_detector "$WORK/b.conf" "$WORK/b.log"
PID_B=$DETECTOR_PID
"$KTOOL" consume -b "$BOOTSTRAP" -t auth.actions.clean --from-beginning --count "$(wc -l <"$WORK/replay.jsonl")" \
    --idle-ms 60000 --timeout-ms 180000 >"$WORK/b-actions.jsonl" 2>>"$WORK/consume.log"
check "clean run: the same actions as replay" cmp -s <(action_ids "$WORK/replay.jsonl") <(action_ids "$WORK/b-actions.jsonl")
final_keys=$(rcli dbsize)
kill -TERM "$PID_B"; wait "$PID_B"
redis_dump >"$WORK/dump-b"

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
for _ in $(seq 1 40); do
    IDLE_MS=2500 consume auth.actions 0 "$WORK/a-actions.jsonl"
    [ "$(grep -c '"identity":"marker-' "$WORK/a-actions.jsonl")" -ge 40 ] && \
        [ "$(action_ids "$WORK/a-actions.jsonl" | wc -l)" -ge "$expected" ] && break
done
log "run A published $(wc -l <"$WORK/a-actions.jsonl") messages, $(action_ids "$WORK/a-actions.jsonl" | wc -l) distinct ids"
check "after kill -9: every action exactly once by action_id" cmp -s <(action_ids "$WORK/replay.jsonl") <(action_ids "$WORK/a-actions.jsonl")
redis_dump >"$WORK/dump-a"
check "after kill -9: Redis state equals the never-killed run" cmp -s "$WORK/dump-a" "$WORK/dump-b"
cmp -s "$WORK/dump-a" "$WORK/dump-b" || diff "$WORK/dump-a" "$WORK/dump-b" | head -10 >&2
stop_detector TERM
finish

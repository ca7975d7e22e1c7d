#!/usr/bin/env bash
# Redis killed in the middle of a stream and restarted (with AOF): the
# daemon pauses, retries, resumes, and skips nothing: the same actions as
# replay and the same Redis state as a run without the outage.
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"

"$GEN" --events 4000 --identities 300 --attacks 6 --no-proxy --seed 5 >"$WORK/events.jsonl"
for i in $(seq 1 20); do marker_event "$i" "2026-12-31T00:00:$(printf %02d "$i")Z"; done >"$WORK/markers.jsonl"
cat "$WORK/events.jsonl" "$WORK/markers.jsonl" >"$WORK/stream.jsonl"
"$DET" replay -c "$ROOT/config/detector.conf" "$WORK/stream.jsonl" >"$WORK/replay.jsonl" 2>/dev/null
start_kafka 2
produce auth.events "$WORK/stream.jsonl"

# Reference: a run without an outage.
start_redis
write_conf "$WORK/b.conf"
sed -i 's/^group.id = .*/group.id = clean/; s/^topic.actions = .*/topic.actions = auth.actions.clean/' "$WORK/b.conf"
start_detector "$WORK/b.conf" "$WORK/b.log"
"$KTOOL" consume -b "$BOOTSTRAP" -t auth.actions.clean --from-beginning --count "$(wc -l <"$WORK/replay.jsonl")" \
    --idle-ms 60000 --timeout-ms 180000 >/dev/null 2>>"$WORK/consume.log"
final_keys=$(rcli dbsize)
stop_detector TERM
redis_dump >"$WORK/dump-b"

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
for _ in $(seq 1 40); do
    IDLE_MS=2500 consume auth.actions 0 "$WORK/a-actions.jsonl"
    [ "$(grep -c '"identity":"marker-' "$WORK/a-actions.jsonl")" -ge 20 ] && break
done
check "the daemon logged the outage and the recovery" grep -q "state store is back" "$WORK/a.log"
check "outage: the same action ids as replay" cmp -s <(action_ids "$WORK/replay.jsonl") <(action_ids "$WORK/a-actions.jsonl")
redis_dump >"$WORK/dump-a"
check "outage: Redis state equals the run without outage" cmp -s "$WORK/dump-a" "$WORK/dump-b"
cmp -s "$WORK/dump-a" "$WORK/dump-b" || diff "$WORK/dump-a" "$WORK/dump-b" | head -10 >&2
stop_detector TERM
finish

#!/usr/bin/env bash
# Redis comes back empty (restarted without persistence): the daemon
# notices (the state marker is gone), logs it, counts it, and behaves as
# configured: redis.on_state_loss = continue goes on from the empty state;
# pause stops consuming until the marker is back, then goes on, skipping
# nothing.
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"

"$GEN" --events 600 --identities 50 --seed 11 >"$WORK/events.jsonl"
head -n 300 "$WORK/events.jsonl" >"$WORK/part1.jsonl"
tail -n 300 "$WORK/events.jsonl" >"$WORK/part2.jsonl"
processed() {
    awk '/^  "(events|bad|unknown)": / { gsub(/[^0-9]/, "", $2); n += $2 } END { print n + 0 }' \
        "$WORK/stats-$1.json" 2>/dev/null || echo 0
}
stat_of() { sed -n "s/^  \"$2\": \([0-9]*\),*$/\1/p" "$WORK/stats-$1.json" 2>/dev/null | head -1; }
wait_processed() { # NAME COUNT [SECONDS]
    for _ in $(seq 1 $((${3:-30} * 10))); do
        [ "$(processed "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

start_redis
start_kafka 1

# 1. continue (the default)
write_conf "$WORK/cont.conf"
start_detector "$WORK/cont.conf" "$WORK/cont.log"
produce auth.events "$WORK/part1.jsonl"
check "continue: the first part is processed" wait_processed cont 300
check "a new store gets the state marker" test -n "$(rcli hget 'sad:{detector}:marker' since)"
check "the new store was logged" grep -q "no state marker: a new store" "$WORK/cont.log"
kill -KILL "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null
rm -rf "$WORK/redis"
restart_redis
produce auth.events "$WORK/part2.jsonl"
check "continue: the second part is processed after the loss" wait_processed cont 600
check "continue: the loss is logged as an error" grep -q "error STATE LOST.*continue" "$WORK/cont.log"
check "continue: the loss is counted" test "$(stat_of cont state_lost)" = 1
check "continue: the marker is written again" test -n "$(rcli hget 'sad:{detector}:marker' since)"
check "continue: the second part's state is in Redis" test "$(rcli dbsize)" -gt 10
stop_detector TERM

# 2. pause: nothing is consumed until the marker is back.
rcli flushall >/dev/null
write_conf "$WORK/pause.conf"
echo "redis.on_state_loss = pause" >>"$WORK/pause.conf"
sed -i 's/^group.id = .*/group.id = detector-pause/' "$WORK/pause.conf"
start_detector "$WORK/pause.conf" "$WORK/pause.log"
check "pause: the 600 events so far are processed (a new group)" wait_processed pause 600
since=$(rcli hget 'sad:{detector}:marker' since)
rcli flushall >/dev/null # the data is gone, the connection stays: found by the periodic check
sleep 2
produce auth.events "$WORK/part2.jsonl"
sleep 3
n=$(processed pause)
check "pause: the loss is logged" grep -q "error STATE LOST.*pause" "$WORK/pause.log"
check "pause: nothing more is consumed while the marker is missing ($n of 900)" test "$n" -lt 900
check "pause: no state is written while paused" test "$(rcli dbsize)" -eq 0
check "pause: the loss is counted" test "$(stat_of pause state_lost)" = 1
check "pause: the daemon is alive" kill -0 "$DETECTOR_PID"
# An operator accepts the loss by writing the marker (README, Operations).
rcli hset 'sad:{detector}:marker' since "$since" by operator layout 2 >/dev/null
check "pause: consumption resumes once the marker is back, skipping nothing" wait_processed pause 900
check "pause: the resume is logged" grep -q "state marker is back" "$WORK/pause.log"
stop_detector TERM
finish

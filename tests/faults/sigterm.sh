#!/usr/bin/env bash
# SIGTERM during load: the daemon works through a live stream (RATE events/s
# on 4 partitions) and is stopped with SIGTERM STOPS times, each 1 to 3 s
# after it started processing (the counter moving in the last second), and started again (full: 5 stops at 2,000
# events/s; short: 1 at 800 events/s).
#
# Asserts: each stop finishes the batch in hand, commits, flushes and exits 0
# within 10 s (measured); after each restart nothing is processed twice (its
# statistics' "republished" stays 0, and the counters of all the daemons,
# exact at a clean stop, add up to the stream exactly: each one resumed at
# the committed offset); every action published once, with the ids of
# replay; the Redis state of an undisturbed run.
BUILD=${1:-build}
. "$(dirname "$0")/common.sh"

sized STOPS 1 5
sized RATE 800 2000
# The stream outlasts the stops (about 8 s each, with the restart).
sized EVENTS $((RATE * (STOPS * 10 + 8))) $((RATE * (STOPS * 10 + 8)))
SEED=${FAULT_SEED:-$RANDOM}
RANDOM=$SEED

prepare_stream "$EVENTS" $((EVENTS / 10)) 17 "$MARKERS" --attacks 5 --no-proxy
N=$(wc -l <"$WORK/stream.jsonl")
ref_start clean 4
start_kafka 4
collector_start a
check "redis-server started" redis_up
start_live_a

taken=0 exits="" bad_exit=0 republished="" loaded=1
for i in $(seq 1 "$STOPS"); do
    wait_for 60 processed_over "$STATS" 0
    r=$((RANDOM % 21))
    sleep "$(calc "$r / 10" %.1f)"
    busy=$(processed "$STATS")
    sleep 1
    [ "$(processed "$STATS")" -gt "$busy" ] || loaded=0 # the counter moves: under load
    stop_detector_timed
    rc=$STOP_RC s=$STOP_S
    exits="$exits $s"
    n=$(processed "$STATS")
    taken=$((taken + n))
    [ "$i" -eq 1 ] || republished="$republished $(stat_top "$STATS" republished)"
    { [ "$rc" -eq 0 ] && le "$s" 10; } || bad_exit=$((bad_exit + 1))
    log "stop $i: SIGTERM after $n events; exit $rc in $s s"
    start_and_time "$WORK/a.conf" "$LOG" "$STATS"
    log "  restarted: first event after ${RESUME:-never} s"
done
check "every SIGTERM came under load (the counter was moving)" test "$loaded" -eq 1
check "the stops happened during the stream" kill -0 "$PRODUCER_PID"
wait "$PRODUCER_PID"
check "the whole stream was produced" test $? -eq 0
check "every action and marker published" wait_for 300 collected a
check "the daemon is done" settle "$STATS"
stop_detector_timed
s=$STOP_S
exits="$exits $s"
{ [ "$DETECTOR_RC" -eq 0 ] && le "$s" 10; } || bad_exit=$((bad_exit + 1))
taken=$((taken + $(processed "$STATS")))
republished="$republished $(stat_top "$STATS" republished)"
collector_stop a
ref_finish

check "every stop: exit 0 within 10 s" test "$bad_exit" -eq 0
check "every stop: the batch in hand finished, offsets committed, producer flushed (log)" \
    test "$(grep -c "stopping: committing offsets" "$LOG")" -eq $((STOPS + 1))
check "after each restart: nothing republished ($(echo $republished))" test -z "$(echo $republished | tr -d ' 0')"
check "each event processed exactly once over all restarts ($taken of $N)" test "$taken" -eq "$N"
check "every action published exactly once" test "$(wc -l <"$WORK/a-actions.jsonl")" -eq "$(action_ids "$WORK/a-actions.jsonl" | wc -l)"
check "the action ids of replay" cmp -s <(action_ids "$WORK/replay.jsonl") <(action_ids "$WORK/a-actions.jsonl")
check_actions "SIGTERM" "$WORK/a-actions.jsonl" "$WORK/clean-actions.jsonl"
check_state "SIGTERM: Redis state equals the undisturbed run" "$WORK/dump-clean"

read -r emin emed emax <<<"$(spread $exits)"
figure "events (live, events/s), partitions" "$N ($RATE/s), 4"
figure "SIGTERMs under load (+1 at the end)" "$STOPS"
figure "SIGTERM to exit, min/median/max (s)" "$emin/$emed/$emax"
figure "events processed over all restarts" "$taken"
figure "republished after restarts" "$(echo $republished | tr ' ' ',')"
finish

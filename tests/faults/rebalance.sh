#!/usr/bin/env bash
# Rebalances: three daemon slots in one consumer group on 6 partitions and
# one Redis, a live stream (RATE events/s), and every EVERY s one daemon
# leaves (SIGTERM) or joins, CHANGES times (full: 20 changes 5 s apart;
# short: 4, 2 s apart); at least one daemon runs at any time.
#
# Asserts: every action id of a single undisturbed daemon's run and no
# other; an action published twice (at-least-once across a rebalance) is
# the same bytes each time (they are counted); the Redis state equals the
# single daemon's; every event processed (the daemons' counters, exact at
# their clean stops, add up to the stream at least); each leaving daemon
# exits 0 within 10 s.
BUILD=${1:-build}
. "$(dirname "$0")/common.sh"

sized RATE 400 1000
sized CHANGES 4 20
sized EVERY 2 5
# The stream outlasts the changes (a leave can take a few seconds).
sized EVENTS $((RATE * (CHANGES * (EVERY + 3) + 10))) $((RATE * (CHANGES * (EVERY + 3) + 20)))
SEED=${FAULT_SEED:-$RANDOM}
RANDOM=$SEED
PARTS=6

prepare_stream "$EVENTS" $((EVENTS / 10)) 13 "$MARKERS" --attacks 5 --no-proxy
N=$(wc -l <"$WORK/stream.jsonl")
ref_start single $PARTS # one daemon, no rebalance
start_kafka $PARTS
collector_start a
check "redis-server started" redis_up
declare -A PID
taken=0 republished=0 exits="" bad_exit=0 joins=0 leaves=0
for s in 1 2 3; do write_conf "$WORK/d$s.conf"; done
join() {
    rm -f "$WORK/stats-d$1.json"
    start_detector "$WORK/d$1.conf" "$WORK/d$1.log"
    PID[$1]=$DETECTOR_PID
}
leave() {
    local rc s
    stop_timed "${PID[$1]}"
    rc=$STOP_RC s=$STOP_S
    exits="$exits $s"
    { [ "$rc" -eq 0 ] && le "$s" 10; } || {
        bad_exit=$((bad_exit + 1))
        log "daemon $1 left with status $rc after $s s"
    }
    taken=$((taken + $(processed "$WORK/stats-d$1.json")))
    republished=$((republished + $(stat_top "$WORK/stats-d$1.json" republished)))
    PID[$1]=
}
running() { local s n=0; for s in 1 2 3; do [ -n "${PID[$s]}" ] && n=$((n + 1)); done; echo $n; }

for s in 1 2 3; do join $s; done
produce_paced "$RATE"
check "the daemons process the live stream" wait_for 60 processed_over "$WORK/stats-d1.json" 0
for i in $(seq 1 "$CHANGES"); do
    sleep "$EVERY"
    n=$(running)
    s=$((1 + RANDOM % 3))
    if [ "$n" -eq 3 ] || { [ "$n" -eq 2 ] && [ $((RANDOM % 2)) -eq 0 ]; }; then
        while [ -z "${PID[$s]}" ]; do s=$((s % 3 + 1)); done
        leave $s
        leaves=$((leaves + 1))
        log "change $i: daemon $s left ($(running) running)"
    else
        while [ -n "${PID[$s]}" ]; do s=$((s % 3 + 1)); done
        join $s
        joins=$((joins + 1))
        log "change $i: daemon $s joined ($(running) running)"
    fi
done
check "the changes happened during the stream" kill -0 "$PRODUCER_PID"
wait "$PRODUCER_PID"
check "the whole stream was produced" test $? -eq 0
check "every action and marker published" wait_for 300 collected a
live=$(for s in 1 2 3; do [ -z "${PID[$s]}" ] || echo "$WORK/stats-d$s.json"; done)
check "the daemons are done (what was delivered again too)" settle $live
rebalances=$(cat "$WORK"/d?.log | grep -c "assigned")
for s in 1 2 3; do [ -z "${PID[$s]}" ] || leave $s; done
collector_stop a
ref_finish
check "every daemon left cleanly within 10 s" test "$bad_exit" -eq 0
# The group may fold changes that come close together into one rebalance,
# so the count of assignments is not one per change; at least one must
# follow the first.
revokes=$(cat "$WORK"/d?.log | grep -c "revoked")
check "rebalances seen ($rebalances assignments, $revokes revocations)" test "$rebalances" -ge 2 -a "$revokes" -ge 1
check_actions "rebalances" "$WORK/a-actions.jsonl" "$WORK/single-actions.jsonl"
check_state "rebalances: Redis state equals a single daemon's" "$WORK/dump-single"
check "every event processed ($taken of $N)" test "$taken" -ge "$N"

read -r emin emed emax <<<"$(spread $exits)"
figure "events (live, events/s), partitions" "$N ($RATE/s), $PARTS"
figure "membership changes (joins + leaves), s apart" "$CHANGES ($joins + $leaves), $EVERY"
figure "assignments seen by the daemons" "$rebalances"
figure "events processed (delivered again: $((taken - N)))" "$taken"
figure "actions republished from the outbox (statistics)" "$republished"
figure "SIGTERM to exit, min/median/max (s)" "$emin/$emed/$emax"
finish

#!/usr/bin/env bash
# Kafka faults during a live stream (RATE events/s on 4 partitions), on a
# mock cluster of 3 brokers laid out so that each fault hits the daemon and
# not the test's own producer:
#   broker 1: group coordinator of the daemons' group and leader of every
#             auth.events partition;
#   broker 3: leader of every auth.actions and auth.events.dlq partition.
#
# 1. Errors on the daemon's Produce requests (broker 3: NOT_LEADER_FOR_PARTITION,
#    REQUEST_TIMED_OUT answered after 500 ms, NOT_ENOUGH_REPLICAS): every
#    one met, processing goes on.
# 2. Errors on OffsetCommit (broker 1: COORDINATOR_NOT_AVAILABLE,
#    NOT_COORDINATOR, REQUEST_TIMED_OUT); in the full form a SIGTERM while
#    they last, so that the final commit fails, and a restart.
# 3. Broker 1 down for DOWN s (full: 60; short: 10): no coordinator, no
#    events. The daemon stays up, processes nothing, and processes events
#    again within 10 s of the broker coming back.
# At the end: no event lost and no action twice by action_id (every id of
# a run without faults is there and no other; what at-least-once publishes
# again is the same bytes), and the Redis state of the run without faults.
BUILD=${1:-build}
. "$(dirname "$0")/common.sh"

# The stream lasts into the broker's outage.
sized RATE 300 1000
sized EVENTS $((RATE * 20)) $((RATE * 60))
sized DOWN 10 60
sized PRODUCE_ERRORS 12 60
sized COMMIT_ERRORS 12 60
sized STOP_IN_COMMIT_ERRORS 0 1
RESUME_LIMIT=10 # seconds after the broker is back

prepare_stream "$EVENTS" $((EVENTS / 10)) 7 "$MARKERS" --attacks 5 --no-proxy
ref_start clean 4 # no fault, on a cluster of its own
KAFKA_CONTROL=1 start_kafka 4

# mock COMMAND...: a command to the mock cluster; 0 when it answered OK.
# -> ANSWER (its answer line)
answers() { grep -c -E '^(OK|ERR )' "$WORK/kafka.log"; }
mock() {
    local n
    n=$(answers)
    kafka_control "$*"
    ANSWER=
    wait_for 5 eval '[ "$(answers)" -gt "$n" ]' || return 1
    ANSWER=$(grep -E '^(OK|ERR )' "$WORK/kafka.log" | tail -1)
    case $ANSWER in OK*) return 0 ;; *) log "mock: $* -> $ANSWER"; return 1 ;; esac
}
pending() { mock broker pending "$1" "$2" && echo "${ANSWER#OK }"; }
streaming() {
    kill -0 "$PRODUCER_PID" 2>/dev/null && return 0
    log "the stream ended before the phase: make EVENTS larger"
    return 1
}

layout=1
for p in 0 1 2 3; do
    mock leader auth.events "$p" 1 && mock leader auth.actions "$p" 3 || layout=0
done
mock leader auth.events.dlq 0 3 && mock coordinator group detector 1 || layout=0
# The test's reader of auth.actions has its coordinator on broker 3 too.
mock coordinator group collector 3 || layout=0
check "the cluster's layout: coordinator and auth.events on broker 1, auth.actions on broker 3" test "$layout" -eq 1
collector_start a collector

check "redis-server started" redis_up
start_live_a
check "the daemon processes the live stream" wait_for 60 processed_over "$STATS" "$((RATE / 2))"

# 1. Produce errors (the daemon's actions and dead letters only).
check "Produce errors: during the stream" streaming
p3=$((PRODUCE_ERRORS / 3))
mock broker errors 3 Produce NOT_LEADER_FOR_PARTITION "$p3" &&
    mock broker errors 3 Produce REQUEST_TIMED_OUT "$p3" 500 &&
    mock broker errors 3 Produce NOT_ENOUGH_REPLICAS $((PRODUCE_ERRORS - 2 * p3))
check "Produce errors injected ($PRODUCE_ERRORS)" test $? -eq 0
before=$(processed "$STATS")
produce_done() { [ "$(pending 3 Produce)" = 0 ]; }
check "Produce errors: the daemon's requests met every one" wait_for 60 produce_done
check "Produce errors: processing goes on" wait_for 30 processed_over "$STATS" "$((before + RATE / 2))"
delivery_errors=$(stat_top "$STATS" delivery_errors)

# 2. OffsetCommit errors; in the full form a stop while they last (its
# final commit fails) and a restart, which processes again what was not
# committed.
check "OffsetCommit errors: during the stream" streaming
c3=$((COMMIT_ERRORS / 3))
mock broker errors 1 OffsetCommit COORDINATOR_NOT_AVAILABLE "$c3" &&
    mock broker errors 1 OffsetCommit NOT_COORDINATOR "$c3" &&
    mock broker errors 1 OffsetCommit REQUEST_TIMED_OUT $((COMMIT_ERRORS - 2 * c3))
check "OffsetCommit errors injected ($COMMIT_ERRORS)" test $? -eq 0
stop_s=- left=- republished=-
if [ "$STOP_IN_COMMIT_ERRORS" -eq 1 ]; then
    sleep 1
    stop_detector_timed
    stop_s=$STOP_S
    left=$(pending 1 OffsetCommit)
    log "stopped in $stop_s s; $left OffsetCommit errors left"
    check "OffsetCommit errors: SIGTERM exits 0 within 10 s ($stop_s s)" eval 'test "$DETECTOR_RC" -eq 0 && le "$stop_s" 10'
    check "OffsetCommit errors: the daemon's commits met some" test "${left:-$COMMIT_ERRORS}" -lt "$COMMIT_ERRORS"
    start_and_time "$WORK/a.conf" "$LOG" "$STATS"
    log "restarted: first event after ${RESUME:-never} s"
    check "OffsetCommit errors: the daemon runs again" test -n "$RESUME"
    republished=$(stat_top "$STATS" republished)
else
    commit_done() { [ "$(pending 1 OffsetCommit)" = 0 ]; }
    before=$(processed "$STATS")
    check "OffsetCommit errors: the daemon's commits met every one" wait_for 60 commit_done
    check "OffsetCommit errors: processing goes on" wait_for 30 processed_over "$STATS" "$before"
fi

# 3. Broker 1 down. The test's producer holds what it produces meanwhile
# and delivers it when the broker is back.
check "broker down: during the stream" streaming
mock broker down 1
down_at=$(now)
# What the consumer had fetched already is processed first (after a
# restart, a backlog; a commit to the coordinator that is down can hold a
# batch for a few seconds): the counter must come to rest, within half the
# outage, and then stay there.
still=0 c1=$(processed "$STATS")
while [ "$still" -lt 20 ] && [ "$(calc "$(now) - $down_at < $DOWN / 2" %d)" = 1 ]; do
    sleep 0.1
    c=$(processed "$STATS")
    if [ "$c" = "$c1" ]; then still=$((still + 1)); else still=0 c1=$c; fi
done
rest_s=$(calc "$(now) - $down_at" %.1f)
check "broker down: the daemon's work in hand done within $((DOWN / 2)) s ($rest_s s)" test "$still" -ge 20
sleep "$(calc "$DOWN - ($(now) - $down_at)" %.1f)"
c2=$(processed "$STATS")
check "broker down: the daemon is running after $DOWN s" kill -0 "$DETECTOR_PID"
mock broker up 1
up_at=$(now)
resume=999
wait_for 60 processed_over "$STATS" "$c2" && resume=$(since "$up_at")
log "broker 1 down $(calc "$up_at - $down_at" %.1f) s: work in hand done after $rest_s s, then $((c2 - c1)) events processed; processing again $resume s after it came back"
check "broker down: nothing processed after the work in hand" test "$c2" -eq "$c1"
check "broker down: processing again within $RESUME_LIMIT s of the broker's return ($resume s)" le "$resume" "$RESUME_LIMIT"

wait "$PRODUCER_PID"
check "the whole stream was produced" test $? -eq 0
check "every action and marker published" wait_for 300 collected a
check "the daemon is done (what was delivered again too)" settle "$STATS"
stop_detector TERM
check "the daemon stopped cleanly at the end" test "$DETECTOR_RC" -eq 0
collector_stop a
ref_finish
check_actions "Kafka faults" "$WORK/a-actions.jsonl" "$WORK/clean-actions.jsonl"
check_state "Kafka faults: Redis state equals the run without faults" "$WORK/dump-clean"

figure "events (live, events/s)" "$(wc -l <"$WORK/stream.jsonl") ($RATE/s)"
figure "Produce errors injected / delivery failures seen by the daemon" "$PRODUCE_ERRORS / ${delivery_errors:-0}"
figure "OffsetCommit errors injected / left at the stop" "$COMMIT_ERRORS / $left"
figure "SIGTERM during OffsetCommit errors: exit (s)" "$stop_s"
figure "actions published again after that restart (statistics)" "$republished"
figure "broker down (coordinator and auth.events leader), s" "$DOWN"
figure "broker down: work in hand done after (s)" "$rest_s"
figure "broker back to the next processed event (s)" "$resume"
finish

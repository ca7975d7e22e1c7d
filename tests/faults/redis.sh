#!/usr/bin/env bash
# Redis faults during a live stream (RATE events/s on 4 partitions), against
# a redis-server with a password (requirepass; the daemon has redis.password)
# and AOF with appendfsync always:
#
# 1. redis-server killed (-9) and restarted RESTARTS times (full: 5; short: 1),
#    each down for a while: the daemon stays up, its counter stops, and it
#    processes events again within 5 s of Redis answering PING (AUTH again on
#    every reconnect, or it would never resume).
# 2. Redis killed once more and the daemon stopped (SIGTERM) while it is
#    down, then both started again: an offset stored past state that Redis
#    did not write would lose those events for good.
# 3. Redis stalled with SIGSTOP for STALL s (full: 30; short: 5): the failure
#    is logged within about redis.timeout (1 s), attempts keep failing one by
#    one (each a reconnect bounded by the timeout: it is set again on every
#    reconnect), the counter does not move, the daemon stays in its group,
#    and it resumes within 5 s of SIGCONT.
# At the end: the action ids and bytes of a run without faults, and its
# Redis state.
#
# Why appendfsync always: the daemon stores an event's offset once Redis has
# acknowledged its writes. With "always" Redis fsyncs the AOF before it
# acknowledges, so the state behind a stored offset survives any crash. With
# "everysec" a crash of the redis-server process loses nothing acknowledged
# either (the AOF write() comes before the reply), but a crash of the host
# can lose the last second or so, whose offsets may already be committed:
# those events' state would be lost, not redelivered.
BUILD=${1:-build}
. "$(dirname "$0")/common.sh"

sized RATE 500 1000
# The stream lasts into the stall (what is produced meanwhile waits in Kafka).
sized EVENTS $((RATE * 22)) $((RATE * 80))
sized RESTARTS 1 5
sized STALL 5 30
sized DOWN_MAX 2 5 # each outage lasts 1 to DOWN_MAX s
SEED=${FAULT_SEED:-$RANDOM}
RANDOM=$SEED
TIMEOUT_S=1     # redis.timeout in write_conf
RETRY_MAX_S=1   # retry.max in write_conf
RESUME_LIMIT=5  # seconds after Redis is back
PASSWORD="fault-test-$RANDOM$RANDOM"
AOF=(--appendonly yes --appendfsync always --requirepass "$PASSWORD")

prepare_stream "$EVENTS" $((EVENTS / 10)) 5 "$MARKERS" --attacks 6 --no-proxy
export REDISCLI_AUTH=$PASSWORD # rcli, and lib.sh's PING, authenticate
CONF_EXTRA="$CONF_EXTRA
redis.password = $PASSWORD" ref_start clean 4 --requirepass "$PASSWORD" # no fault
start_kafka 4
collector_start a
check "redis-server started (AOF, password)" redis_up "${AOF[@]}"
MPORT=$(free_port)
CONF_EXTRA="metrics.listen = 127.0.0.1:$MPORT
redis.password = $PASSWORD" start_live_a
redis_errors() { curl -s "http://127.0.0.1:$MPORT/metrics" | awk '$1 == "detector_redis_errors_total" { print $2 + 0 }'; }
streaming() {
    kill -0 "$PRODUCER_PID" 2>/dev/null && return 0
    log "the stream ended before the phase: make EVENTS larger"
    return 1
}
check "the daemon processes the live stream" wait_for 60 processed_over "$STATS" "$((RATE * 2))"

# 1. Restarts.
resumes="" alive=1 frozen=1
for i in $(seq 1 "$RESTARTS"); do
    streaming || break
    sleep 1.5
    r=$((RANDOM % ((DOWN_MAX - 1) * 10 + 1)))
    down=$(calc "1 + $r / 10" %.1f)
    kill -KILL "$REDIS_PID"
    wait "$REDIS_PID" 2>/dev/null
    sleep 0.5
    before=$(processed "$STATS")
    sleep "$down"
    kill -0 "$DETECTOR_PID" 2>/dev/null || alive=0
    [ "$(processed "$STATS")" -eq "$before" ] || frozen=0
    restart_redis "${AOF[@]}" || alive=0
    back=$(now)
    r=999
    wait_for 30 processed_over "$STATS" "$before" && r=$(since "$back")
    resumes="$resumes $r"
    log "restart $i: Redis down ${down}+0.5 s at $before events; the daemon processed again $r s after PING"
done
check "the daemon survived $RESTARTS Redis crashes (and Redis restarted)" test "$alive" -eq 1
check "no event was processed while Redis was down" test "$frozen" -eq 1
worst=$(spread $resumes | cut -d' ' -f3)
check "after each restart: processing again within $RESUME_LIMIT s of PING (worst ${worst} s)" le "${worst:-999}" "$RESUME_LIMIT"
check "AUTH after every reconnect (no NOAUTH error)" test "$(grep -c NOAUTH "$LOG")" -eq 0

# 2. The daemon stopped while Redis is down, then both back.
streaming && sleep 1.5
kill -KILL "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null
sleep 1
stop_detector_timed
stop_s=$STOP_S
check "SIGTERM while Redis is down: exit 0 (in ${stop_s} s)" test "$DETECTOR_RC" -eq 0
check "SIGTERM while Redis is down: exit within 10 s" le "$stop_s" 10
check "Redis restarted" restart_redis "${AOF[@]}"
start_and_time "$WORK/a.conf" "$LOG" "$STATS"
log "daemon started again after the outage: first event after ${RESUME:-never} s"

# 3. A stalled Redis.
check "stall: during the stream" streaming
check "processing before the stall" wait_for 30 processed_over "$STATS" "$(($(processed "$STATS") + RATE / 2))"
errors0=$(redis_errors)
revoked0=$(grep -c revoked "$LOG")
failed0=$(grep -c "state store failed" "$LOG")
kill -STOP "$REDIS_PID"
stopped=$(now)
new_failure() { [ "$(grep -c "state store failed" "$LOG")" -gt "$failed0" ]; }
line=""
wait_for $((TIMEOUT_S + 10)) new_failure && line=$(grep "state store failed" "$LOG" | tail -1)
detect=999
[ -n "$line" ] && detect=$(calc "$(log_time "$line") - $stopped")
log "stall: $line"
check "stall: the failure is logged within redis.timeout + 1 s (${detect} s)" le "$detect" $((TIMEOUT_S + 1))
check "stall: the failure is the timeout" grep -q "timeout after $((TIMEOUT_S * 1000)) ms" <<<"$line"
sleep 0.5
held=$(processed "$STATS")
held_at=$(now)
rest=$(calc "$STALL - ($held_at - $stopped)" %.1f)
le 0 "$rest" && sleep "$rest"
attempts=$(calc "$(redis_errors) - $errors0" %.0f)
window=$(since "$held_at")
check "stall: the daemon is running" kill -0 "$DETECTOR_PID"
check "stall: the counter did not move" test "$(processed "$STATS")" -eq "$held"
check "stall: the daemon stayed in its group (no rebalance)" test "$(grep -c revoked "$LOG")" -eq "$revoked0"
# After the first failure every attempt is a reconnect (a new connection:
# connect, which the stopped server's kernel accepts, then AUTH, which it
# never answers). Each must end within redis.timeout, and attempts are at
# most retry.max apart: at least one per timeout + retry.max, and at least
# two (so a reconnected connection had its timeout too).
least=$(calc "int(($STALL - $detect) / ($TIMEOUT_S + $RETRY_MAX_S + 0.5))" %.0f)
[ "$least" -ge 2 ] || least=2
check "stall: $attempts failed attempts in ${STALL} s (at least $least): each returned within the timeout, reconnects too" \
    test "$attempts" -ge "$least"
kill -CONT "$REDIS_PID"
continued=$(now)
stall_resume=999
wait_for 30 processed_over "$STATS" "$held" && stall_resume=$(since "$continued")
check "stall: processing again within $RESUME_LIMIT s of SIGCONT (${stall_resume} s)" le "$stall_resume" "$RESUME_LIMIT"

# The end of the stream.
wait "$PRODUCER_PID"
check "the whole stream was produced" test $? -eq 0
check "every action and marker published" wait_for 300 collected a
check "the daemon is done (what was delivered again too)" settle "$STATS"
stop_detector TERM
check "the daemon stopped cleanly at the end" test "$DETECTOR_RC" -eq 0
collector_stop a
ref_finish
check "the daemon logged each recovery" test "$(grep -c "state store is back" "$LOG")" -ge $((RESTARTS + 1))
check "no fatal error in the log" test "$(grep -c -i fatal "$LOG")" -eq 0
check_actions "Redis faults" "$WORK/a-actions.jsonl" "$WORK/clean-actions.jsonl"
check_state "Redis faults: Redis state equals the run without faults" "$WORK/dump-clean"

read -r rmin rmed rmax <<<"$(spread $resumes)"
figure "events (live, events/s)" "$(wc -l <"$WORK/stream.jsonl") ($RATE/s)"
figure "Redis AOF" "appendfsync always, requirepass"
figure "redis-server kill -9 and restarts" "$RESTARTS (+1 with the daemon stopped)"
figure "PING to the next processed event, min/median/max (s)" "$rmin/$rmed/$rmax"
figure "SIGTERM while Redis is down: exit (s)" "$stop_s"
figure "stall (SIGSTOP) length (s)" "$STALL"
figure "stall: SIGSTOP to the logged timeout (s; redis.timeout 1 s)" "$detect"
figure "stall: failed attempts (one per timeout + backoff)" "$attempts in $(calc "$window + 0") s"
figure "stall: SIGCONT to the next processed event (s)" "$stall_resume"
finish

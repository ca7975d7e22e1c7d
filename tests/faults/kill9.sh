#!/usr/bin/env bash
# kill -9 of the daemon at KILLS random points of a stream of EVENTS events on
# 4 partitions, restarted each time (full: 10 kills in 100,000 events; short,
# in make test: 3 in 20,000).
#
# Asserts: every action exactly once by action_id (the ids of a run that was
# never killed, and of replay; what is published again after a kill is the
# same bytes), the Redis state equal to the never-killed run's (so every
# window counts each event once; compared once the last daemon is idle: an
# event it processes again can put back a window member that a later event,
# processed again after it, prunes again), nothing skipped. Measures: when each kill
# came (action ids published, Redis keys written), the time from each
# restart to the first event processed, and the messages published again.
BUILD=${1:-build}
. "$(dirname "$0")/common.sh"

sized EVENTS 20000 100000
sized IDENTITIES 2000 10000
sized KILLS 3 10
# A killed member holds its partitions until its session times out (the
# mock then waits session - 1 s for it before the rebalance completes). Not
# below 4 s: the mock expires a member that waits out its 3 s first join.
sized SESSION_MS 4000 6000
SEED=${FAULT_SEED:-$RANDOM}
RANDOM=$SEED

prepare_stream "$EVENTS" "$IDENTITIES" 11 "$MARKERS" --attacks 5 --no-proxy
N=$(wc -l <"$WORK/stream.jsonl")
expected=$(action_ids "$WORK/replay.jsonl" | wc -l)
check "replay decided $expected actions" test "$expected" -gt 100
ref_start clean 4 # never killed
start_kafka 4
check "the stream is in Kafka" produce_all
collector_start a
check "redis-server started" redis_up
# Batches of 100: more commits to cut, and a daemon slow enough that a
# kill point late in the stream is seen (every 10 ms) before the daemon,
# restarted after the last kill, has run to the end of the stream.
CONF_EXTRA="$CONF_EXTRA
kafka.consumer.session.timeout.ms = $SESSION_MS
batch.size = 100" write_conf "$WORK/a.conf"
STATS="$WORK/stats-a.json"
# The kill points: KILLS random fractions (5% to 85%: some stream must be
# left) of the action ids of replay published, in order: the progress of
# all the daemon's incarnations together, as events delivered again give no
# new id. FAULT_POINTS="20 50 80" sets them. ($RANDOM is read here, not in
# a subshell, which would seed it anew.)
points=${FAULT_POINTS:-}
if [ -z "$points" ]; then
    for _ in $(seq 1 "$KILLS"); do points="$points $((5 + RANDOM % 81))"; done
fi
points=$(printf '%s\n' $points | sort -n)
KILLS=$(echo $points | wc -w)
log "kill points (% of $expected action ids, seed $SEED): $(echo $points)"
published() { action_ids "$WORK/a-actions.jsonl" | wc -l; }
published_at_least() { [ "$(published)" -ge "$1" ]; }

start_detector "$WORK/a.conf" "$WORK/a.log"
kills=0 resumes="" republished=0 taken=0 alive_ok=1 at_keys="" midstream=1
for pct in $points; do
    WAIT_STEP=0.01 wait_for 300 published_at_least $((expected * pct / 100)) ||
        log "kill point $pct% not reached"
    kill -0 "$DETECTOR_PID" 2>/dev/null || alive_ok=0
    [ "$(grep -c '"identity":"marker-' "$WORK/a-actions.jsonl")" -lt "$MARKERS" ] || midstream=0
    kill -KILL "$DETECTOR_PID"
    wait "$DETECTOR_PID" 2>/dev/null
    kills=$((kills + 1))
    keys=$(rcli dbsize)
    at_keys="$at_keys $keys"
    # What this incarnation processed and published again, as of its last
    # statistics (at most stats.interval old).
    taken=$((taken + $(processed "$STATS")))
    republished=$((republished + $(stat_top "$STATS" republished)))
    log "kill $kills: at $(published) of $expected action ids ($pct%), $keys Redis keys, after $(processed "$STATS") events"
    start_and_time "$WORK/a.conf" "$WORK/a.log" "$STATS"
    log "  restarted: first event processed after ${RESUME:-never} s"
    resumes="$resumes ${RESUME:-999}"
done
check "killed $KILLS times" test "$kills" -eq "$KILLS"
check "every kill came before the end of the stream" test "$midstream" -eq 1
check "the daemon was running at every kill" test "$alive_ok" -eq 1
check "after every restart the daemon processed events again" test -z "$(echo "$resumes" | grep -w 999)"
check "after kill -9: every action and marker published" wait_for 300 collected a
check "after kill -9: the last daemon is done (what was delivered again too)" settle "$STATS"
stop_detector TERM
check "the last daemon stopped cleanly" test "$DETECTOR_RC" -eq 0
collector_stop a
ref_finish
taken=$((taken + $(processed "$STATS")))
republished=$((republished + $(stat_top "$STATS" republished)))

check "after kill -9: the action ids of replay" cmp -s <(action_ids "$WORK/replay.jsonl") <(action_ids "$WORK/a-actions.jsonl")
check_actions "after kill -9" "$WORK/a-actions.jsonl" "$WORK/clean-actions.jsonl"
check_state "after kill -9: Redis state equals the never-killed run" "$WORK/dump-clean"

read -r rmin rmed rmax <<<"$(spread $resumes)"
ref_keys=$(grep -c '^[a-z]* sad:' "$WORK/dump-clean")
figure "events" "$N"
figure "partitions" 4
figure "kills" "$kills"
figure "session.timeout.ms" "$SESSION_MS"
figure "kill points (% of the action ids published)" "$(echo $points | tr ' ' ',')"
figure "kill points (% of the final Redis keys)" "$(for k in $at_keys; do printf '%s ' $((k * 100 / ref_keys)); done | sed 's/ $//; s/ /,/g')"
figure "restart to first event processed, min/median/max (s)" "$rmin/$rmed/$rmax"
figure "events processed in all (delivered again after kills: about $((taken - N)))" "$taken"
figure "actions republished from the outbox (statistics)" "$republished"
finish

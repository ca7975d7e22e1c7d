#!/usr/bin/env bash
# Hot reload on SIGHUP, against the running daemon: a changed threshold takes
# effect without resetting the counters kept in Redis; an invalid rule set
# is refused with FILE:LINE:COL errors in the log and the old set keeps running.
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"

cp -r "$ROOT/config/rules" "$WORK/rules"
RULES_DIR="$WORK/rules"
start_redis
start_kafka 1
write_conf "$WORK/detector.conf"
start_detector "$WORK/detector.conf" "$WORK/detector.log"

started() { # started ID N TIME
    printf '{"event_id":"%s-%s","ts":"%s","type":"login.started","identity":"%s","request_id":"r-%s","ip":"192.0.2.1","country":"DK"}\n' "$1" "$2" "$3" "$1" "$2"
}
alerts_for() { grep -c "\"identity\":\"$1\",\"rule\":\"login-burst\"" "$WORK/out.jsonl"; }

# Three starts for id-r in four minutes: under the shipped threshold of 5.
{ started id-r 1 2026-11-24T10:00:00Z; started id-r 2 2026-11-24T10:02:00Z; started id-r 3 2026-11-24T10:04:00Z
  marker_event 1 2026-11-24T10:04:01Z; } >"$WORK/p1.jsonl"
produce auth.events "$WORK/p1.jsonl"
check "phase 1 consumed" wait_marker 1
cp "$WORK/marker.out" "$WORK/out.jsonl"
check "3 starts: no login-burst alert" test "$(alerts_for id-r)" -eq 0

# The analyst lowers the threshold to 4 and reloads.
sed -i 's/when count(login.started within 10m) >= 5/when count(login.started within 10m) >= 4/' "$WORK/rules/10-login.rules"
kill -HUP "$DETECTOR_PID"
for _ in $(seq 1 100); do grep -q "reload: 10 rules in force" "$WORK/detector.log" && break; sleep 0.1; done
check "the reload was logged" grep -q "reload: 10 rules in force" "$WORK/detector.log"
{ started id-r 4 2026-11-24T10:05:00Z; marker_event 2 2026-11-24T10:05:01Z; } >"$WORK/p2.jsonl"
produce auth.events "$WORK/p2.jsonl"
check "phase 2 consumed" wait_marker 2
cp "$WORK/marker.out" "$WORK/out.jsonl"
check "the 4th start alerts: the 3 counted before the reload still count" test "$(alerts_for id-r)" -eq 1

# A broken rule set is refused; the running one stays in force.
printf 'rule broken\n  on login.started\n  when count(login.started within 10min) >= 2\n  action alert\n  severity low\n  reason "x"\nend\n' >"$WORK/rules/50-broken.rules"
kill -HUP "$DETECTOR_PID"
for _ in $(seq 1 100); do grep -q "reload refused" "$WORK/detector.log" && break; sleep 0.1; done
check "the invalid set was refused" grep -q "reload refused: 1 error; the running rules stay in force" "$WORK/detector.log"
check "the error names FILE:LINE:COL" grep -q "reload: $WORK/rules/50-broken.rules:3:35: bad duration" "$WORK/detector.log"
{ started id-s 1 2026-11-24T11:00:00Z; started id-s 2 2026-11-24T11:01:00Z; started id-s 3 2026-11-24T11:02:00Z
  started id-s 4 2026-11-24T11:03:00Z; marker_event 3 2026-11-24T11:03:01Z; } >"$WORK/p3.jsonl"
produce auth.events "$WORK/p3.jsonl"
check "phase 3 consumed" wait_marker 3
cp "$WORK/marker.out" "$WORK/out.jsonl"
check "the old set (threshold 4) still decides" test "$(alerts_for id-s)" -eq 1
check "the broken rule never ran" test "$(grep -c '"rule":"broken"' "$WORK/out.jsonl")" -eq 0
check "the daemon is still running" kill -0 "$DETECTOR_PID"
stop_detector TERM
# 4 + 1 + 5 login.started evaluated by login-burst across two reloads.
check "per-rule statistics carried over the reload" test "$(rule_stat login-burst evaluated)" = 8

finish

#!/usr/bin/env bash
# The operator's view of a running daemon: /metrics (every family, figures
# equal to what was sent, the Prometheus text format), /healthz, /readyz
# (200, then 503 with its reason while Redis is stopped), JSON log lines
# with repeated warnings summed up, and systemd's notify protocol (READY,
# RELOADING, STOPPING, WATCHDOG, STATUS) on a NOTIFY_SOCKET.
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"

cp -r "$ROOT/config/rules" "$WORK/rules"
RULES_DIR="$WORK/rules"
start_redis
start_kafka 1
write_conf "$WORK/detector.conf"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
cat >>"$WORK/detector.conf" <<EOF
metrics.listen = 127.0.0.1:$PORT
log.format = json
kafka.consumer.statistics.interval.ms = 300
EOF

# systemd's side of sd_notify: a datagram socket; each message is written
# to notify.log followed by a line "--".
python3 -u - "$WORK/notify.sock" "$WORK/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(65536).decode() + "\n--\n")
PY
NOTIFY_PID=$!
PIDS="$PIDS $NOTIFY_PID"
for _ in $(seq 1 100); do [ -S "$WORK/notify.sock" ] && break; sleep 0.05; done

export NOTIFY_SOCKET="$WORK/notify.sock" WATCHDOG_USEC=400000
start_detector "$WORK/detector.conf" "$WORK/detector.log"
unset NOTIFY_SOCKET WATCHDOG_USEC

get() { curl -s -o "$WORK/body" -w '%{http_code}' "$URL$1"; } # status; body in $WORK/body
scrape() { curl -s -o "$WORK/metrics.txt" "$URL/metrics"; }
# mval 'name{labels}': a sample's value in the last scrape (empty when absent).
mval() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/metrics.txt"; }
# wait_metric 'name{labels}' VALUE: scrapes until the sample has the value (10 s at most).
wait_metric() {
    for _ in $(seq 1 100); do
        scrape
        [ "$(mval "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    log "$1 is $(mval "$1"), not $2"
    return 1
}
notified() { grep -qx "$1" "$WORK/notify.log" 2>/dev/null; }
wait_notified() { for _ in $(seq 1 100); do notified "$1" && return 0; sleep 0.1; done; return 1; }

for _ in $(seq 1 100); do [ "$(get /healthz 2>/dev/null)" = 200 ] && break; sleep 0.1; done
check "/healthz: 200 ok" test "$(get /healthz)-$(cat "$WORK/body")" = "200-ok"
check "/readyz: 200 ready while running" test "$(get /readyz)-$(cat "$WORK/body")" = "200-ready"
check "sd_notify: READY=1" wait_notified "READY=1"
check "sd_notify: a STATUS= line" grep -q '^STATUS=consuming auth.events: 10 rules$' "$WORK/notify.log"
check "sd_notify: WATCHDOG=1 (WATCHDOG_USEC set)" wait_notified "WATCHDOG=1"
check "an unknown path: 404" test "$(get /nope)" = 404

# The stream: generated events, bad ones of every class, two of an unknown
# type, and a marker last (one partition: its alert comes after the rest).
"$GEN" --events 300 --identities 30 --attacks 5 --seed 11 >"$WORK/good.jsonl"
cat >"$WORK/bad.jsonl" <<'EOF'
this is not json
{"event_id":"b-1","ts":"2026-11-05T10:00:00Z","type":"login.started","identity":"id-x"}
{"event_id":"b-2","ts":"2026-11-05T10:00:00Z","type":"login.started","identity":"id x","request_id":"r"}
{"event_id":"b-3","ts":"yesterday","type":"login.started","identity":"id-x","request_id":"r"}
{"event_id":"b-4","event_id":"b-4","ts":"2026-11-05T10:00:00Z","type":"login.started","identity":"id-x","request_id":"r"}
{"event_id":"b-5","ts":"2026-11-05T10:00:00Z","type":"login.rejected","identity":"id-x","request_id":"r","reported":"yes"}
{"event_id":"b-6","ts":"2026-11-05T10:00:00Z","type":"login.started","identity":"id-x","request_id":"r","x":[[[[[[[[1]]]]]]]]}
[42]
{"event_id":"b-8\u001b[2J","ts":"2026-11-05T10:00:00Z","event_id":"x"}
EOF
cat >"$WORK/unknown.jsonl" <<'EOF'
{"event_id":"u-1","ts":"2026-11-05T10:00:00Z","type":"passkey.created","identity":"id-x"}
{"event_id":"u-2","ts":"2026-11-05T10:00:01Z","type":"passkey.created","identity":"id-y"}
EOF
{ head -150 "$WORK/good.jsonl"; cat "$WORK/bad.jsonl" "$WORK/unknown.jsonl"; tail -n +151 "$WORK/good.jsonl"
  marker_event 1 2026-12-31T00:00:01Z; } >"$WORK/stream.jsonl"
"$DET" replay -c "$WORK/detector.conf" "$WORK/stream.jsonl" >"$WORK/replay.jsonl" 2>/dev/null
TOTAL=$(wc -l <"$WORK/stream.jsonl")
produce auth.events "$WORK/stream.jsonl"
wait_actions "$(wc -l <"$WORK/replay.jsonl")" "$WORK/live.jsonl"
check "the stream was processed (actions equal replay's)" cmp -s "$WORK/replay.jsonl" "$WORK/live.jsonl"
check "every message counted in a batch" wait_metric detector_batch_size_sum "$TOTAL"

check "valid exposition format" python3 - "$WORK/metrics.txt" <<'PY'
import re, sys
name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
sample = re.compile(r"^(%s)(\{%s(?:,%s)*\})? (NaN|[+-]Inf|[-+]?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)$" % (name, label, label))
typed, helped, bad = {}, set(), []
text = open(sys.argv[1]).read()
if not text.endswith("\n"): bad.append("no final newline")
buckets = {}
for line in text.splitlines():
    if line.startswith("# HELP "):
        helped.add(line.split()[2]); continue
    if line.startswith("# TYPE "):
        _, _, n, t = line.split(" ")
        if t not in ("counter", "gauge", "histogram") or n not in helped or n in typed: bad.append(line)
        typed[n] = t; continue
    m = sample.match(line)
    if not m: bad.append(line); continue
    n = m.group(1)
    fam = n if n in typed else re.sub(r"_(bucket|sum|count)$", "", n)
    if fam not in typed: bad.append("no TYPE: " + line)
    if typed.get(fam) == "counter" and not n.endswith("_total"): bad.append("counter name: " + line)
    if n.endswith("_bucket"):
        key = re.sub(r',?le="[^"]*"', "", m.group(2) or "")
        v = float(m.group(3)); prev = buckets.get((fam, key), 0)
        if v < prev: bad.append("buckets not cumulative: " + line)
        buckets[(fam, key)] = v
for l in bad: print("bad line:", l)
sys.exit(1 if bad else 0)
PY

FAMILIES="detector_events_total counter
detector_bad_events_total counter
detector_unknown_type_events_total counter
detector_events_republished_total counter
detector_actions_published_total counter
detector_breaker_trips_total counter
detector_delivery_errors_total counter
detector_rule_evaluations_total counter
detector_rule_hits_total counter
detector_rule_actions_total counter
detector_rule_suppressions_total counter
detector_rule_regex_limit_total counter
detector_rule_eval_seconds_total counter
detector_batch_size histogram
detector_batch_duration_seconds histogram
detector_action_latency_seconds histogram
detector_redis_errors_total counter
detector_redis_reconnects_total counter
detector_redis_up gauge
detector_consumer_lag gauge
detector_rebalances_total counter
detector_assigned_partitions gauge
detector_rules_info gauge
detector_rules gauge
detector_rules_loaded_timestamp_seconds gauge
detector_reload_success gauge
detector_reload_timestamp_seconds gauge
detector_reloads_total counter"
missing=""
while read -r f t; do grep -qx "# TYPE $f $t" "$WORK/metrics.txt" || missing="$missing $f"; done <<<"$FAMILIES"
check "every metric family with its TYPE${missing:+ (missing:$missing)}" test -z "$missing"

# Events by type: what was sent (the marker is a login.rejected).
python3 - "$WORK/good.jsonl" >"$WORK/types" <<'PY'
import collections, json, sys
c = collections.Counter(json.loads(l)["type"] for l in open(sys.argv[1]))
c["login.rejected"] += 1
for t in ["login.started", "login.approved", "login.rejected", "login.failed", "userid.changed",
          "authenticator.activated", "authenticator.blocked", "authenticator.reactivated",
          "identity.blocked", "identity.unblocked"]:
    print(t, c[t])
PY
wrong=""
while read -r t n; do [ "$(mval "detector_events_total{type=\"$t\"}")" = "$n" ] || wrong="$wrong $t"; done <"$WORK/types"
check "events by type equal what was sent${wrong:+ (wrong:$wrong)}" test -z "$wrong"
for c in invalid_json:1 missing_field:1 invalid_value:2 duplicate_key:2 wrong_type:1 too_deep:1 not_object:1 too_large:0 other:0; do
    check "bad events of class ${c%%:*}: ${c##*:}" test "$(mval "detector_bad_events_total{reason=\"${c%%:*}\"}")" = "${c##*:}"
done
check "no raw event text as a label value" test "$(grep -c 'b-8\|id x\|yesterday' "$WORK/metrics.txt")" -eq 0
check "unknown-type events: 2" test "$(mval detector_unknown_type_events_total)" = 2
ACTIONS=$(wc -l <"$WORK/replay.jsonl")
check "actions published: $ACTIONS" test "$(mval detector_actions_published_total)" = "$ACTIONS"
check "an action latency per action" test "$(mval detector_action_latency_seconds_count)" = "$ACTIONS"
# Per rule, kind and mode: as many as the actions say (and 0 for the others).
python3 - "$WORK/replay.jsonl" "$WORK/rules" >"$WORK/by_rule" <<'PY'
import collections, glob, json, re, sys
c = collections.Counter()
for l in open(sys.argv[1]):
    a = json.loads(l)
    c[(a["rule"], a["kind"], a["mode"])] += 1
rules = [m for f in sorted(glob.glob(sys.argv[2] + "/*.rules")) for m in re.findall(r"^rule (\S+)", open(f).read(), re.M)]
for r in rules:
    for k in ("alert", "block_identity", "block_authenticator"):
        for m in ("enforce", "shadow"):
            print(r, k, m, c[(r, k, m)])
PY
wrong=""
while read -r rule kind mode n; do
    [ "$(mval "detector_rule_actions_total{rule=\"$rule\",kind=\"$kind\",mode=\"$mode\"}")" = "$n" ] || wrong="$wrong $rule/$kind/$mode"
done <"$WORK/by_rule"
check "rule actions by rule, kind and mode: $(wc -l <"$WORK/by_rule") series equal the actions${wrong:+ (wrong:$wrong)}" \
    test -z "$wrong" -a "$(wc -l <"$WORK/by_rule")" -eq 60
check "login-burst evaluated once per login.started" \
    test "$(mval 'detector_rule_evaluations_total{rule="login-burst"}')" = "$(awk '$1 == "login.started" { print $2 }' "$WORK/types")"
check "suppressions by cause are shown" test -n "$(mval 'detector_rule_suppressions_total{rule="login-burst",cause="cooldown"}')"
check "login-burst cooldown suppressions equal replay's" \
    test "$(mval 'detector_rule_suppressions_total{rule="login-burst",cause="cooldown"}')" = \
    "$("$DET" replay -c "$WORK/detector.conf" "$WORK/stream.jsonl" 2>&1 >/dev/null | awk '$1 == "login-burst" { print $10 }')"
check "one partition assigned, one rebalance" test "$(mval detector_assigned_partitions)-$(mval 'detector_rebalances_total{event="assign"}')" = "1-1"
check "consumer lag of partition 0 falls to 0" wait_metric 'detector_consumer_lag{topic="auth.events",partition="0"}' 0
check "10 rules in force, load succeeded" test "$(mval detector_rules)-$(mval detector_reload_success)" = "10-1"
VERSION=$(sed -n 's/^detector_rules_info{version="\([0-9a-f]\{16\}\)"} 1$/\1/p' "$WORK/metrics.txt")
check "the rule set version is the one logged" grep -q "\"msg\":\"running: 10 rules (version $VERSION)" "$WORK/detector.log"
check "redis up, no error" test "$(mval detector_redis_up)-$(mval detector_redis_errors_total)" = "1-0"

# Reload: a changed rule file is a new version; a broken one is refused.
sed -i 's/when count(login.started within 10m) >= 5/when count(login.started within 10m) >= 4/' "$WORK/rules/10-login.rules"
: >"$WORK/notify.log"
kill -HUP "$DETECTOR_PID"
check "reload counted as a success" wait_metric 'detector_reloads_total{result="success"}' 1
VERSION2=$(sed -n 's/^detector_rules_info{version="\([0-9a-f]*\)"} 1$/\1/p' "$WORK/metrics.txt")
check "the new rule set has another version" test -n "$VERSION2" -a "$VERSION2" != "$VERSION"
check "sd_notify: RELOADING=1, then READY=1" \
    awk '$0 == "RELOADING=1" { r = 1 } r && $0 == "READY=1" { ok = 1 } END { exit !ok }' "$WORK/notify.log"
printf 'rule broken\n  on login.started\n  action alert\n  severity low\n  reason "x"\n  cooldown 10min\nend\n' >"$WORK/rules/50-broken.rules"
kill -HUP "$DETECTOR_PID"
check "a refused reload: success 0, counted as a failure" wait_metric detector_reload_success 0
check "  and the failure counted" test "$(mval 'detector_reloads_total{result="failure"}')" = 1
check "  and the version in force stays" test "$(grep -c "^detector_rules_info{version=\"$VERSION2\"} 1$" "$WORK/metrics.txt")" = 1
check "every error of the refused reload is in the log" grep -q '"msg":"reload: .*50-broken.rules:6:12: bad duration' "$WORK/detector.log"
rm "$WORK/rules/50-broken.rules"

# Redis stopped: not ready, with the reason; a batch waiting for it pauses
# consumption (and the lag shows it); back when Redis is.
kill -TERM "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null
for _ in $(seq 1 50); do [ "$(get /readyz)" = 503 ] && break; sleep 0.1; done
check "/readyz: 503 when Redis is stopped" test "$(get /readyz)" = 503
check "  with the reason" grep -qx "redis: unreachable" "$WORK/body"
check "/healthz still 200" test "$(get /healthz)" = 200
"$GEN" --events 40 --identities 5 --seed 12 >"$WORK/more.jsonl"
produce auth.events "$WORK/more.jsonl"
for _ in $(seq 1 50); do get /readyz >/dev/null; grep -q "paused" "$WORK/body" && break; sleep 0.1; done
check "/readyz: the batch waits for Redis" grep -qx "redis: unreachable; consumption paused, the batch is being retried" "$WORK/body"
lagged() { scrape; [ "$(mval 'detector_consumer_lag{topic="auth.events",partition="0"}')" -gt 0 ] 2>/dev/null; }
for _ in $(seq 1 50); do lagged && break; sleep 0.1; done
check "the consumer lag shows the waiting events" lagged
check "redis down: redis_up 0, errors counted" test "$(mval detector_redis_up)" = 0 -a "$(mval detector_redis_errors_total)" -ge 1
restart_redis
for _ in $(seq 1 100); do [ "$(get /readyz)" = 200 ] && break; sleep 0.1; done
check "/readyz: 200 again once Redis is back" test "$(get /readyz)-$(cat "$WORK/body")" = "200-ready"
check "the waiting events were processed" wait_metric detector_batch_size_sum "$((TOTAL + 40))"
check "a reconnect counted, redis up" test "$(mval detector_redis_reconnects_total)" -ge 1 -a "$(mval detector_redis_up)" = 1
check "the lag is back to 0" wait_metric 'detector_consumer_lag{topic="auth.events",partition="0"}' 0

stop_detector TERM
check "the daemon stopped cleanly" test "$DETECTOR_RC" -eq 0
check "sd_notify: STOPPING=1" wait_notified "STOPPING=1"
kill -TERM "$NOTIFY_PID" 2>/dev/null
wait "$NOTIFY_PID" 2>/dev/null

# The log: JSON lines only; the bad events logged once, the rest summed up.
check "every log line is JSON with ts, level and msg" python3 - "$WORK/detector.log" <<'PY'
import json, sys
for line in open(sys.argv[1], "rb"):
    o = json.loads(line)
    assert set(o) >= {"ts", "level", "msg"} and o["level"] in ("debug", "info", "warn", "error"), line
PY
check "one line for the first bad event" test "$(grep -c '"msg":"bad event at' "$WORK/detector.log")" -eq 1
check "the other 8 summed up in one line" grep -q '"msg":"repeated 8 times in [0-9]*s: bad event at auth.events \[0\] offset 158: .*","repeated":8}' "$WORK/detector.log"
check "no control byte in the log" test "$(tr -d '\n\040-\176' <"$WORK/detector.log" | wc -c)" -eq 0
finish

#!/usr/bin/env bash
# Lockout abuse (issue 5, item 10), with the shipped rule pack.
#
# 1. An attacker starts logins in one person's name: 10,000 login.started and
#    login.failed for identity "victim-1", alternating, one every 20 s (about
#    56 hours), from 1,000 addresses. The policy: events anyone can cause
#    raise alerts only, so nobody is blocked; login-burst alerts at most once
#    an hour.
# 2. An alert flood: 10,000 identities with 6 logins started each within
#    three minutes, from 50 shared addresses; two hours later, 5 more for the
#    first 1,000. At most one alert per identity, rule and cooldown.
# The decisions are checked on `detector replay`; a live run over the same
# events (activity.max = 20) is checked in Redis: no block key of any kind,
# and every activity list capped at 20 (the victim's at its 20 newest).
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
# No metrics endpoint: its fixed port is not for every daemon of every test.
CONF_EXTRA="metrics.listen ="
CAP=20

# ---- the streams (event time order)
awk 'BEGIN {
    for (i = 0; i < 10000; i++) {
        s = i * 20; j = int(i / 2); k = j % 1000
        ts = sprintf("2026-11-%02dT%02d:%02d:%02dZ", 10 + int(s / 86400), int(s % 86400 / 3600), int(s % 3600 / 60), s % 60)
        if (i % 2 == 0)
            printf "{\"event_id\":\"v-%05d\",\"ts\":\"%s\",\"type\":\"login.started\",\"identity\":\"victim-1\",\"request_id\":\"vr-%05d\",\"ip\":\"198.18.%d.%d\",\"country\":\"DK\",\"device_id\":\"att-%d\",\"user_agent\":\"Mozilla/5.0 (X11; Linux x86_64)\",\"service_provider\":\"bank.example\"}\n", i, ts, j, int(k / 250), k % 250 + 1, k
        else
            printf "{\"event_id\":\"v-%05d\",\"ts\":\"%s\",\"type\":\"login.failed\",\"identity\":\"victim-1\",\"request_id\":\"vr-%05d\",\"ip\":\"198.18.%d.%d\",\"reason\":\"wrong_code\"}\n", i, ts, j, int(k / 250), k % 250 + 1
    }
}' >"$WORK/victim.jsonl"
flood_round() { # WAVE_START_SECONDS ROUND IDENTITIES
    awk -v base="$1" -v r="$2" -v n="$3" 'BEGIN {
        for (i = 0; i < n; i++) {
            ms = (base + r * 30) * 1000 + i * 2; s = int(ms / 1000)
            printf "{\"event_id\":\"f-%d-%d-%05d\",\"ts\":\"2026-11-20T%02d:%02d:%02d.%03dZ\",\"type\":\"login.started\",\"identity\":\"fl-%05d\",\"request_id\":\"fr-%d-%d-%05d\",\"ip\":\"203.0.113.%d\",\"country\":\"DK\"}\n", base, r, i, int(s / 3600), int(s % 3600 / 60), s % 60, ms % 1000, i, base, r, i, i % 50 + 1
        }
    }'
}
{
    for r in 0 1 2 3 4 5; do flood_round 0 "$r" 10000; done
    for r in 0 1 2 3 4; do flood_round 7200 "$r" 1000; done
} >"$WORK/flood.jsonl"
cat "$WORK/victim.jsonl" "$WORK/flood.jsonl" >"$WORK/stream.jsonl"
check "victim stream: 10000 events from 1000 addresses" \
    test "$(wc -l <"$WORK/victim.jsonl")" -eq 10000 -a "$(grep -o '"ip":"[^"]*"' "$WORK/victim.jsonl" | sort -u | wc -l)" -eq 1000
check "flood stream: 65000 events of 10000 identities" \
    test "$(wc -l <"$WORK/flood.jsonl")" -eq 65000 -a "$(grep -o '"identity":"[^"]*"' "$WORK/flood.jsonl" | sort -u | wc -l)" -eq 10000

# The configuration of both runs: the shipped one, with activity.max = CAP.
sed "s/^activity.max = .*/activity.max = $CAP/; s|^rules.dir = .*|rules.dir = $ROOT/config/rules|" \
    "$ROOT/config/detector.conf" >"$WORK/replay.conf"
"$DET" replay -c "$WORK/replay.conf" "$WORK/victim.jsonl" >"$WORK/victim-actions.jsonl" 2>"$WORK/victim.err"
"$DET" replay -c "$WORK/replay.conf" "$WORK/flood.jsonl" >"$WORK/flood-actions.jsonl" 2>"$WORK/flood.err"

# Cooldowns of the shipped rules, in seconds (from the rule files).
awk '/^rule / { r = $2 } /^  cooldown / { d = $2; n = d + 0; u = substr(d, length(n "") + 1)
     print r, n * (u == "d" ? 86400 : u == "h" ? 3600 : u == "m" ? 60 : 1) }' \
    "$ROOT"/config/rules/*.rules >"$WORK/cooldowns"
# cooldown_violations ACTIONS: "identity rule" pairs with two actions closer
# than the rule's cooldown (a rule without cooldown: none allowed twice), and
# the figures "actions N pairs N" on stderr.
cooldown_violations() {
    awk 'function epoch(ts,   y, m, d) {
             y = substr(ts, 1, 4) + 0; m = substr(ts, 6, 2) + 0; d = substr(ts, 9, 2) + 0
             if (m <= 2) { y--; m += 12 }
             d = 365 * y + int(y / 4) - int(y / 100) + int(y / 400) + int((153 * (m - 3) + 2) / 5) + d
             return d * 86400 + substr(ts, 12, 2) * 3600 + substr(ts, 15, 2) * 60 + substr(ts, 18, 6)
         }
         NR == FNR { cd[$1] = $2; next }
         {
             id = $0; sub(/.*"identity":"/, "", id); sub(/".*/, "", id)
             rule = $0; sub(/.*"rule":"/, "", rule); sub(/".*/, "", rule)
             ts = $0; sub(/.*"ts":"/, "", ts); sub(/".*/, "", ts)
             t = epoch(ts); k = id " " rule; n++
             if (k in last && t - last[k] < cd[rule]) print k, ts
             if (!(k in last)) pairs++
             last[k] = t
         }
         END { print "actions " n + 0 " pairs " pairs + 0 > "/dev/stderr" }' "$WORK/cooldowns" "$1"
}

# The check catches what it must: two alerts 59 minutes apart, not 60.
printf '%s\n' '{"action_id":"a","kind":"alert","identity":"x","rule":"login-burst","severity":"medium","mode":"enforce","reason":"r","ts":"2026-11-30T23:30:00Z","expires":null,"events":["1"]}' \
    '{"action_id":"b","kind":"alert","identity":"x","rule":"login-burst","severity":"medium","mode":"enforce","reason":"r","ts":"2026-12-01T00:29:00.5Z","expires":null,"events":["2"]}' \
    '{"action_id":"c","kind":"alert","identity":"x","rule":"login-burst","severity":"medium","mode":"enforce","reason":"r","ts":"2026-12-01T01:29:00.5Z","expires":null,"events":["3"]}' \
    >"$WORK/selftest.jsonl"
check "the cooldown check finds two alerts within the hour (across a month's end)" \
    test "$(cooldown_violations "$WORK/selftest.jsonl" 2>/dev/null)" = "x login-burst 2026-12-01T00:29:00.5Z"

# ---- 1. the victim
blocks=$(grep -c '"kind":"block_' "$WORK/victim-actions.jsonl")
check "victim: no block of any kind (replay decided $blocks)" test "$blocks" -eq 0
[ "$blocks" -eq 0 ] || grep '"kind":"block_' "$WORK/victim-actions.jsonl" | sed 's/.*"rule":"\([^"]*\)".*/blocked by rule \1/' | sort | uniq -c >&2
check "victim: every action is an alert of login-burst for victim-1" \
    test "$(grep -c '"kind":"alert","identity":"victim-1","rule":"login-burst"' "$WORK/victim-actions.jsonl")" -eq "$(wc -l <"$WORK/victim-actions.jsonl")"
# A login.started every 40 s: 15 in any 10 minutes, so the burst holds from
# the 5th start on, and the cooldown lets one alert through every 90 starts.
want=$(((5000 - 5) / 90 + 1))
check "victim: $want login-burst alerts, one an hour ($(wc -l <"$WORK/victim-actions.jsonl"))" \
    test "$(wc -l <"$WORK/victim-actions.jsonl")" -eq "$want"
cooldown_violations "$WORK/victim-actions.jsonl" >"$WORK/victim-violations" 2>/dev/null
check "victim: no two alerts within the cooldown" test ! -s "$WORK/victim-violations"
check "victim: login-burst evaluated 5000 times, hit 4996, alerted $want, the rest held by its cooldown" \
    grep -q "^login-burst  *enforce  *5000  *4996  *$want  *0  *0  *0  *1  *$((4996 - want))  *0  *0$" "$WORK/victim.err"

# ---- 2. the flood
blocks=$(grep -c '"kind":"block_' "$WORK/flood-actions.jsonl")
check "flood: no block of any kind (replay decided $blocks)" test "$blocks" -eq 0
cooldown_violations "$WORK/flood-actions.jsonl" >"$WORK/flood-violations" 2>"$WORK/flood-figures"
head -3 "$WORK/flood-violations" >&2
check "flood: at most one alert per identity, rule and cooldown ($(cat "$WORK/flood-figures"))" \
    test ! -s "$WORK/flood-violations"
lb=$(grep -c '"rule":"login-burst"' "$WORK/flood-actions.jsonl")
check "flood: login-burst once per identity, again for the 1000 after 2 h ($lb)" test "$lb" -eq 11000
check "flood: the second wave alerts exactly the first 1000 identities" \
    test "$(grep '"ts":"2026-11-20T02:' "$WORK/flood-actions.jsonl" | grep -c '"identity":"fl-00[0-9][0-9][0-9]","rule":"login-burst"')" -eq 1000
# 200 identities start logins from each of the 50 addresses: from its 20th
# identity on, an address makes shared-initiator-ip hit for every login it
# starts; the 24 h cooldown lets one alert through per identity.
sip=$(grep -c '"rule":"shared-initiator-ip"' "$WORK/flood-actions.jsonl")
check "flood: shared-initiator-ip once per identity in the day ($sip)" \
    test "$sip" -eq 10000 -a "$(grep '"rule":"shared-initiator-ip"' "$WORK/flood-actions.jsonl" | grep -o '"identity":"[^"]*"' | sort -u | wc -l)" -eq 10000

# ---- live: the same events, the state in Redis
start_redis
start_kafka 8
write_conf "$WORK/detector.conf"
sed -i "s/^log.level = .*/log.level = warn/" "$WORK/detector.conf"
echo "activity.max = $CAP" >>"$WORK/detector.conf"
produce auth.events "$WORK/stream.jsonl"
start_detector "$WORK/detector.conf" "$WORK/detector.log"
total=$(wc -l <"$WORK/stream.jsonl")
for _ in $(seq 1 600); do
    grep -q "^  \"events\": $total,$" "$WORK/stats-detector.json" 2>/dev/null && break
    sleep 0.1
done
check "live: all $total events processed" grep -q "^  \"events\": $total,$" "$WORK/stats-detector.json"
stop_detector TERM
check "live: no block key in Redis" test -z "$(rcli --scan --pattern 'sad:*:block*' | head -1)"
check "live: the breaker admitted no block" test "$(rcli exists 'sad:{breaker}:z')" -eq 0
# Lengths of every activity list, in one round trip: "lists max".
read -r lists maxlen < <(rcli --raw eval "
local n, max = 0, 0
for _, k in ipairs(redis.call('KEYS', ARGV[1])) do
  n = n + 1
  local l = redis.call('LLEN', k)
  if l > max then max = l end
end
return n .. ' ' .. max" 0 'sad:*:activity')
check "live: $lists activity lists, the longest $maxlen entries (activity.max $CAP)" \
    test "$lists" -eq 10001 -a "$maxlen" -eq "$CAP"
check "live: the victim's list holds its $CAP newest alerts, newest first" \
    cmp -s <(rcli --raw lrange 'sad:{victim-1}:activity' 0 -1 | grep -o '"action_id":"[0-9a-f]*"') \
    <(tail -n "$CAP" "$WORK/victim-actions.jsonl" | tac | grep -o '"action_id":"[0-9a-f]*"')
check "live: every activity entry is an alert" \
    test "$(rcli --raw eval "
local bad = 0
for _, k in ipairs(redis.call('KEYS', ARGV[1])) do
  for _, v in ipairs(redis.call('LRANGE', k, 0, -1)) do
    if not string.find(v, '\"kind\":\"alert\"', 1, true) then bad = bad + 1 end
  end
end
return bad" 0 'sad:*:activity')" -eq 0
finish

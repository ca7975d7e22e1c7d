#!/usr/bin/env bash
# Injection through free text (issue 5, item 9).
#
# Every free-text field an event may carry (user agent, device, service
# provider, request and authenticator ids, reasons, user ids, and the event
# id itself) holds, in turn, a payload that tries to name another identity
# or break out of where it is written: "identity":"victim" and a JSON
# break-out, {victim} (a Redis Cluster hash tag), "sad:{victim}:block",
# CRLF, ANSI and C1 escapes, bidi overrides, %7B...%7D, the text \u0000.
# The events fire every kind of action of the shipped pack (alerts, shadow
# alerts, identity and authenticator blocks). The identity "victim" never
# sends a valid event. Checked, in replay and in a live run:
#  - every action concerns the identity of its triggering event, never
#    "victim", and live equals replay byte for byte;
#  - Redis: every key touched (redis-cli MONITOR, commands run by scripts
#    included) and every key left has as hash tag an identity that sent a
#    valid event, or an ip= or breaker scope;
#  - the outputs are valid JSON (actions topic, replay, activity entries,
#    dead letters, replay --explain --format json) or escaped text
#    (replay --explain, the dead letters' reason headers): no raw control
#    character, C1 control or bidi override.
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
# No metrics endpoint: its fixed port is not for every daemon of every test.
CONF_EXTRA="metrics.listen ="
PB="$ROOT/$BUILD/tools/parse_baseline"

# The payloads, as written inside a JSON string.
P=(
    '\"identity\":\"victim\"'
    '\",\"identity\":\"victim\",\"x\":\"'
    '{victim}'
    '}{victim}{'
    'sad:{victim}:block'
    'line\r\nX-Identity: victim\r\n'
    '\u001b[2J\u001b[31mvictim\u001b[0m\u0007'
    '\u009b31m \u0085 \u202eevil\u202c \u2028 \u2066x\u2069'
    '%7Bvictim%7D%0D%0A'
    'a\\u0000b \\x00'
    '<script>{victim}</script>\t\\\"'
    'victim'
)
NP=${#P[@]}
# ts MINUTES: 2026-11-24 at 08:00 plus that many minutes.
ts() { printf '2026-11-24T%02d:%02d:%02dZ' $((8 + $1 / 60)) $(($1 % 60)) "${2:-0}"; }
{
    for i in $(seq 0 $((NP - 1))); do
        p=${P[$i]}
        a=$(printf 'inj-a%02d' "$i") b=$(printf 'inj-b%02d' "$i")
        m=$((i * 20))
        # a: five logins started within 2 minutes (login-burst; the user agent
        # makes automation-user-agent fire in shadow), approved from another
        # country (approval-during-burst blocks), a failure, a reported
        # rejection (reported-request).
        for k in 0 1 2 3 4; do
            printf '{"event_id":"%s/s%d/%s","ts":"%s","type":"login.started","identity":"%s","request_id":"r%d-%s","ip":"192.0.2.%d","country":"SE","device_id":"d-%s","user_agent":"HeadlessChrome/1.0 %s","service_provider":"%s"}\n' \
                "$a" "$k" "$p" "$(ts "$m" $((k * 10)))" "$a" "$k" "$p" $((i + 1)) "$p" "$p" "$p"
        done
        printf '{"event_id":"%s/a/%s","ts":"%s","type":"login.approved","identity":"%s","request_id":"r4-%s","authenticator_id":"app-%s","ip":"198.51.100.7","country":"DK"}\n' \
            "$a" "$p" "$(ts $((m + 2)))" "$a" "$p" "$p"
        printf '{"event_id":"%s/f/%s","ts":"%s","type":"login.failed","identity":"%s","request_id":"r0-%s","reason":"%s"}\n' \
            "$a" "$p" "$(ts $((m + 3)))" "$a" "$p" "$p"
        printf '{"event_id":"%s/j/%s","ts":"%s","type":"login.rejected","identity":"%s","request_id":"r1-%s","authenticator_id":"app-%s","reported":true,"user_agent":"%s"}\n' \
            "$a" "$p" "$(ts $((m + 4)))" "$a" "$p" "$p" "$p"
        # b: three authenticators in a day (authenticator-burst alerts, then
        # authenticator-burst-block blocks the third), a user-ID change from
        # an unknown device (a block of the identity), a blocked authenticator.
        for k in 0 1 2; do
            printf '{"event_id":"%s/t%d/%s","ts":"%s","type":"authenticator.activated","identity":"%s","authenticator_id":"app%d-%s","authenticator_type":"app","channel":"app","device_id":"d-%s"}\n' \
                "$b" "$k" "$p" "$(ts $((m + 5 + k)))" "$b" "$k" "$p" "$p"
        done
        printf '{"event_id":"%s/u/%s","ts":"%s","type":"userid.changed","identity":"%s","old_user_id":"%s","new_user_id":"%s-2","ip":"203.0.113.9","device_id":"d-%s","channel":"self_service","user_agent":"%s"}\n' \
            "$b" "$p" "$(ts $((m + 9)))" "$b" "$p" "$p" "$p" "$p"
        printf '{"event_id":"%s/x/%s","ts":"%s","type":"authenticator.blocked","identity":"%s","authenticator_id":"app0-%s","reason":"%s"}\n' \
            "$b" "$p" "$(ts $((m + 10)))" "$b" "$p" "$p"
    done
} >"$WORK/events.jsonl"
# Bad events naming the victim, or with raw control bytes, C1 controls and
# bidi overrides where the reason quotes the input (a duplicate key, a
# syntax error): dead letters whose reason must be clean text.
H='"ts":"2026-11-24T12:00:00Z","type":"login.started","request_id":"r"'
{
    printf '{"event_id":"bad-1",%s,"identity":"{victim}"}\n' "$H"
    printf '{"event_id":"bad-2",%s,"identity":"victim","user_agent":"a\\u0000b"}\n' "$H"
    printf '{"event_id":"bad-3",%s,"identity":"victim","user_agent":"a\033[31mb"}\n' "$H"
    printf '{"event_id":"bad-4",%s,"identity":"inj-a00","\302\23331m\342\200\256":1,"\302\23331m\342\200\256":2}\n' "$H"
    printf '{"event_id":"bad-5",%s,"identity":"inj-a00","\033[2J\r":1,"\033[2J\r":2}\n' "$H"
    printf '\302\233\342\200\256\033[31m{"identity":"victim"}\n'
    printf '{"event_id":"bad-7",%s,"identity":"victim\\r\\n"}\n' "$H"
    printf '{"event_id":"bad-8","identity":"victim",%s,"x":\302\2331}\n' "$H"
} >"$WORK/bad.jsonl"
NBAD=$(wc -l <"$WORK/bad.jsonl")
cat "$WORK/events.jsonl" "$WORK/bad.jsonl" >"$WORK/stream.jsonl"
NEV=$(wc -l <"$WORK/events.jsonl")

"$DET" replay -c "$ROOT/config/detector.conf" "$WORK/stream.jsonl" >"$WORK/replay.jsonl" 2>"$WORK/replay.err"
check "replay: the $NEV injected events are valid, the $NBAD others bad" \
    grep -q "($NEV valid, $NBAD bad, 0 unknown type)" "$WORK/replay.err"
nact=$(wc -l <"$WORK/replay.jsonl")
for k in '"kind":"alert".*"mode":"enforce"' '"kind":"alert".*"mode":"shadow"' '"kind":"block_identity"' '"kind":"block_authenticator"'; do
    check "replay: actions of every kind fire ($k: $(grep -c "$k" "$WORK/replay.jsonl"))" \
        test "$(grep -c "$k" "$WORK/replay.jsonl")" -ge "$NP"
done

# identities_ok ACTIONS: every action's identity (the third member, before
# any event text) is that of its triggering event (the last evidence, whose
# id starts with "IDENTITY/"), and never "victim". Prints the offenders.
identities_ok() {
    sed -E 's/^\{"action_id":"[0-9a-f]{32}","kind":"[a-z_]+","identity":"([^"]*)".*[,[]"(([^"\\]|\\.)*)"\]\}$/\1 \2/' "$1" |
        awk '{ split($2, t, "/"); if ($1 != t[1] || $1 == "victim" || $1 !~ /^inj-[ab][0-9][0-9]$/) print }'
}
identities_ok "$WORK/replay.jsonl" >"$WORK/wrong-identity"
head -3 "$WORK/wrong-identity" >&2
check "replay: every one of $nact actions concerns its triggering event's identity" test ! -s "$WORK/wrong-identity"
check "replay: no action for victim" test "$(grep -c '^{"action_id":"[0-9a-f]*","kind":"[a-z_]*","identity":"victim"' "$WORK/replay.jsonl")" -eq 0
check "replay: the actions are valid JSON" grep -q "^events $nact errors 0 " <("$PB" "$WORK/replay.jsonl")

# replay --explain: text with every event value escaped, and JSON.
"$DET" replay -c "$ROOT/config/detector.conf" --explain "$WORK/stream.jsonl" >"$WORK/explain.txt" 2>/dev/null
"$DET" replay -c "$ROOT/config/detector.conf" --explain --format json "$WORK/stream.jsonl" >"$WORK/explain.jsonl" 2>/dev/null
# raw_controls FILE: lines with a raw C0 control (but tab), DEL, a C1
# control, a bidi embedding, override or isolate, or a line separator.
raw_controls() {
    grep -c -a -P '[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xa8-\xae]|\xe2\x81[\xa6-\xa9]' "$1"
}
check "explain text: $(wc -l <"$WORK/explain.txt") lines, the payloads escaped (no raw control, C1 or bidi character)" \
    test "$(raw_controls "$WORK/explain.txt")" -eq 0 -a "$(grep -c -i -F 'HeadlessChrome/1.0 \u001b[2J' "$WORK/explain.txt")" -gt 0
check "explain JSON: one valid object per event" grep -q "^events $((NEV)) errors 0 " <("$PB" "$WORK/explain.jsonl")
check "explain JSON: no raw control, C1 or bidi character" test "$(raw_controls "$WORK/explain.jsonl")" -eq 0

# ---- live: one partition (live equals replay in order), MONITOR on Redis
start_redis
redis-cli -p "$REDIS_PORT" monitor >"$WORK/monitor.txt" 2>/dev/null &
MONITOR_PID=$!
PIDS="$PIDS $MONITOR_PID"
start_kafka 1
write_conf "$WORK/detector.conf"
start_detector "$WORK/detector.conf" "$WORK/detector.log"
produce auth.events "$WORK/stream.jsonl"
wait_actions "$nact" "$WORK/live.jsonl"
check "live: the actions equal replay's, byte for byte and in order" cmp -s "$WORK/live.jsonl" "$WORK/replay.jsonl"
"$KTOOL" consume -b "$BOOTSTRAP" -t auth.events.dlq --from-beginning --count "$NBAD" --idle-ms 5000 \
    --timeout-ms 60000 --format json >"$WORK/dlq.jsonl" 2>>"$WORK/consume.log"
stop_detector TERM
sleep 0.3 # the last commands reach the monitor
kill "$MONITOR_PID" 2>/dev/null
wait "$MONITOR_PID" 2>/dev/null

# The identities of the valid events.
grep -o '"type":"[a-z.]*","identity":"[^"]*"' "$WORK/events.jsonl" | sed 's/.*"identity":"//; s/"$//' |
    sort -u >"$WORK/identities"
check "the injected events come from $(wc -l <"$WORK/identities") identities, none of them victim" \
    test "$(wc -l <"$WORK/identities")" -eq $((2 * NP)) -a "$(grep -c -x victim "$WORK/identities")" -eq 0
# tags_not_allowed: reads keys (one a line) and prints those whose hash tag
# is none of: an identity of a valid event, an ip= scope, the daemon's own
# scopes (the breaker, the state marker's "detector", and "#..." scopes,
# which no identity can be named).
tags_not_allowed() {
    awk 'BEGIN { daemon["breaker"] = daemon["detector"] = 1 }
         NR == FNR { ok[$0] = 1; next }
         {
             k = $0
             if (substr(k, 1, 5) != "sad:{" || index(k, "}") == 0) { print "no tag: " k; next }
             tag = substr(k, 6, index(k, "}") - 6)
             if (!(tag in ok) && tag !~ /^ip=[0-9a-fA-F.:%]+$/ && !(tag in daemon) && substr(tag, 1, 1) != "#")
                 print tag ": " k
         }' "$WORK/identities" -
}
# monitor_keys: reads redis-cli MONITOR lines, prints every key a command
# named: the first argument, or the keys of EVALSHA/EVAL; the commands that
# scripts ran are in the monitor too ("[0 lua]").
monitor_keys() {
awk '
    function arg(   s, c) {        # the next quoted argument, as written
        s = ""
        while (pos <= len && substr(line, pos, 1) != "\"") pos++
        if (pos > len) return ""
        pos++
        while (pos <= len) {
            c = substr(line, pos, 1)
            if (c == "\\") { s = s c substr(line, pos + 1, 1); pos += 2; continue }
            if (c == "\"") { pos++; break }
            s = s c; pos++
        }
        found = 1
        return s
    }
    {
        line = $0; len = length(line); pos = index(line, "] ")
        if (pos == 0) next
        found = 0; cmd = toupper(arg())
        if (!found) next
        if (cmd == "EVALSHA" || cmd == "EVAL") {
            arg(); n = arg() + 0
            for (i = 0; i < n; i++) print arg()
        } else if (cmd !~ /^(SCRIPT|SELECT|AUTH|PING|INFO|CLIENT|HELLO|MULTI|EXEC|MONITOR|COMMAND|DBSIZE|FLUSHALL|KEYS|SCAN)$/) {
            print arg()
        }
    }'
}
# The checks catch what they must (a key of victim, directly or in a script).
check "the key checks find a key of victim" test "$(printf '%s\n' 'sad:{inj-a00}:w:x' 'sad:{victim}:block' |
    tags_not_allowed)" = "victim: sad:{victim}:block"
check "the MONITOR parser finds keys in scripts, in EVALSHA and after quoted quotes" \
    test "$(printf '%s\n' '1.0 [0 127.0.0.1:1] "EVALSHA" "ab" "1" "sad:{victim}:a" "x"' \
        '1.0 [0 lua] "zadd" "sad:{inj-a00}:b" "\"{victim}\" \"" "1"' '1.0 [0 127.0.0.1:1] "PING"' |
        monitor_keys | tr '\n' ' ')" = 'sad:{victim}:a sad:{inj-a00}:b '
monitor_keys <"$WORK/monitor.txt" | sort -u >"$WORK/touched"
tags_not_allowed <"$WORK/touched" >"$WORK/touched-bad"
head -5 "$WORK/touched-bad" >&2
check "MONITOR: $(wc -l <"$WORK/touched") keys touched ($(grep -c '\[0 lua\]' "$WORK/monitor.txt") commands in scripts), each in its own event's hash tag" \
    test ! -s "$WORK/touched-bad" -a "$(wc -l <"$WORK/touched")" -gt 100
# Every key, one a line, control bytes and backslashes as \xHH (a request id
# may hold CR LF).
rcli --raw eval "
local out = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
  out[#out + 1] = (k:gsub('[%c\\\\]', function(c) return string.format('\\\\x%02X', c:byte()) end))
end
return table.concat(out, '\\n')" 0 | sort >"$WORK/keys"
tags_not_allowed <"$WORK/keys" >"$WORK/keys-bad"
head -5 "$WORK/keys-bad" >&2
check "Redis: $(wc -l <"$WORK/keys") keys left, each in an allowed hash tag" test ! -s "$WORK/keys-bad"
check "Redis: authenticator blocks are under their identity, whatever the authenticator id" \
    test "$(rcli eval "return #redis.call('KEYS', ARGV[1])" 0 'sad:{inj-b*}:block:app2-*')" -eq "$NP"
# The activity entries: valid JSON, no event text in them.
rcli --raw eval "
local out = {}
for _, k in ipairs(redis.call('KEYS', ARGV[1])) do
  for _, v in ipairs(redis.call('LRANGE', k, 0, -1)) do out[#out + 1] = v end
end
return table.concat(out, '\n')" 0 'sad:*:activity' >"$WORK/activity.jsonl"
nent=$(grep -c . "$WORK/activity.jsonl")
check "Redis: $nent activity entries, all valid JSON" grep -q "^events $nent errors 0 " <("$PB" "$WORK/activity.jsonl")
check "Redis: one entry per enforced action, none of them carries event text" \
    test "$nent" -eq "$(grep -c '"mode":"enforce"' "$WORK/replay.jsonl")" -a "$(grep -c -e victim -e '\\u' "$WORK/activity.jsonl")" -eq 0
# The dead letters.
check "DLQ: the $NBAD bad events, as valid JSON lines" grep -q "^events $NBAD errors 0 " <("$PB" "$WORK/dlq.jsonl")
sed -E 's/.*"reason":"(([^"\\]|\\.)*)".*/\1/' "$WORK/dlq.jsonl" >"$WORK/reasons"
check "DLQ: each with a reason" test "$(grep -c . "$WORK/reasons")" -eq "$NBAD"
check "DLQ: reasons are clean text (no control, C1 or bidi character, raw or escaped)" \
    test "$(raw_controls "$WORK/reasons")" -eq 0 -a "$(grep -c -i -E '(^|[^\\])(\\\\)*\\(u00[01][0-9a-f]|u007f|u00[89][0-9a-f]|u20(2[89a-e]|6[6-9])|[rnt])' "$WORK/reasons")" -eq 0
finish

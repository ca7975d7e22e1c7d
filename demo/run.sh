#!/usr/bin/env bash
# make demo: a day of MitID-like traffic through the real daemon.
#
# Starts its own redis-server and a Kafka mock cluster on loopback, runs
# build/detector, plays ordinary people plus attack stories (demo/scenario.sh),
# and shows what was decided: the blocks in force and the activity lists as
# the people would see them. Everything it started is stopped at the end.
BUILD=${1:-build}
. "$(dirname "$0")/../tests/integration/lib.sh"

say() { printf '%s\n' "$*"; }
bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }

bold "1. Servers on loopback"
start_redis --zset-max-listpack-value 256 --hash-max-listpack-value 256 # README: Redis settings
start_kafka 1
say "   redis-server  127.0.0.1:$REDIS_PORT (pid $REDIS_PID)"
say "   Kafka (librdkafka mock cluster, 3 brokers)  $BOOTSTRAP (pid $KAFKA_PID)"
say "   (one partition, so a whole day played at once arrives in time order, as live traffic does)"

bold "2. The detector daemon"
write_conf "$WORK/detector.conf"
sed -i 's/^log.level = .*/log.level = warn/' "$WORK/detector.conf"
"$DET" check -c "$WORK/detector.conf" 2>/dev/null | sed 's/^/   /'
start_detector "$WORK/detector.conf" "$WORK/detector.log"
say "   build/detector run (pid $DETECTOR_PID): $(ls "$ROOT"/config/rules/*.rules | wc -l) rule files, $("$DET" check -c "$WORK/detector.conf" 2>&1 >/dev/null | head -1)"

bold "3. A day of events: ordinary people, and the attacks"
"$GEN" --events 5000 --identities 600 --attacks 0 --start 2026-11-24T00:00:00Z --days 1 --seed 24 >"$WORK/ordinary.jsonl"
bash "$ROOT/demo/scenario.sh" >"$WORK/stories.jsonl"
sort -t'"' -k8,8 "$WORK/ordinary.jsonl" "$WORK/stories.jsonl" >"$WORK/day.jsonl"
say "   $(wc -l <"$WORK/ordinary.jsonl") events of 600 ordinary people (logins, approvals, the odd failed or rejected login)"
say "   $(wc -l <"$WORK/stories.jsonl") events of the stories:"
say "     - Anna: MFA fatigue. Six login requests from abroad in six minutes; she approves the sixth."
say "     - Bo: his user ID is changed from a device never used with his MitID."
say "     - Carl: changes his user ID himself (nothing happens), later reports a request he did not start."
say "     - Dina: three new authenticators within a day."
say "     - A phishing proxy starts logins for 24 people from one address, with a script."
produce auth.events "$WORK/day.jsonl"
"$DET" replay -c "$ROOT/config/detector.conf" "$WORK/day.jsonl" >"$WORK/replay.jsonl" 2>/dev/null
wait_actions "$(wc -l <"$WORK/replay.jsonl")" "$WORK/actions.jsonl"
say "   produced $(wc -l <"$WORK/day.jsonl") events; the daemon published $(wc -l <"$WORK/actions.jsonl") actions on auth.actions"

field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

bold "4. Blocks in force (what the platform enforces)"
{ rcli --scan --pattern 'sad:{*}:block'; rcli --scan --pattern 'sad:{*}:block:*'; } | sort | while read -r key; do
    who=$(printf '%s' "$key" | sed 's/^sad:{\([^}]*\)}.*/\1/')
    auth=$(printf '%s' "$key" | sed -n 's/^sad:{[^}]*}:block:\(.*\)/\1/p')
    what="whole identity"
    [ -n "$auth" ] && what="authenticator $auth"
    say "   $who: $what blocked since $(rcli hget "$key" since) by rule $(rcli hget "$key" rule)"
    say "       \"$(rcli hget "$key" reason)\""
done
say "   (Anna's block is gone: Citizen Service reactivated her the next morning, which also"
say "    reset her login counts so the old burst cannot block her again.)"

bold "5. Activity lists, as each person sees them on their profile page"
for who in anna-k bo-m carl-j dina-p victim-29 victim-33; do
    say "   $who:"
    [ "$(rcli llen "sad:{$who}:activity")" -eq 0 ] && say "     (nothing)"
    rcli lrange "sad:{$who}:activity" 0 -1 | while read -r e; do
        [ -n "$e" ] || continue
        ts=$(printf '%s' "$e" | field ts | sed 's/T/ /; s/:[0-9.]*Z$//')
        kind=$(printf '%s' "$e" | field kind)
        case $kind in
        alert) label="Alert" ;;
        block_identity) label="MitID blocked" ;;
        block_authenticator) label="Authenticator blocked" ;;
        esac
        say "     $ts  $label: $(printf '%s' "$e" | field reason)"
    done
done

bold "6. Every decision, by rule"
sed -n 's/.*"rule":"\([^"]*\)","severity":"\([^"]*\)","mode":"\([^"]*\)".*"kind":.*//p; s/.*"kind":"\([^"]*\)".*"rule":"\([^"]*\)".*"mode":"\([^"]*\)".*/\2 \1 \3/p' "$WORK/actions.jsonl" \
    | sort | uniq -c | while read -r n rule kind mode; do
    printf '   %-38s %-20s %-8s %4d\n' "$rule" "$kind" "$mode" "$n"
done
say "   Shadow actions (automation-user-agent) are published for analysts and change nothing."
if cmp -s <(sort "$WORK/replay.jsonl") <(sort "$WORK/actions.jsonl"); then
    say "   Offline replay of the same day gives exactly the same actions."
else
    say "   WARNING: offline replay gave different actions"
fi

bold "7. Stopping what the demo started"
stop_detector TERM
say "   daemon stopped (exit $DETECTOR_RC); Redis and Kafka stop on exit"

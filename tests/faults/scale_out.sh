#!/usr/bin/env bash
# Scale-out equivalence: two daemons in one consumer group on one Redis
# decide exactly what one daemon decides on the same stream (EVENTS events on
# 4 partitions; full: 100,000; short: 10,000).
#
# What is compared, between the two-daemon run and a one-daemon run over the
# same stream on the same number of partitions (4): the set of action ids,
# the actions byte for byte (each published once), and the whole Redis state
# (every key under the prefix and its content; TTLs are wall-clock and not
# compared). Each daemon must have had partitions and events of its own.
#
# Why they can be equal: per-identity state and decisions depend only on the
# order of an identity's events, which one partition keeps whichever daemon
# reads it. Counts across identities (`distinct(identity of login.started by
# ip ...)`, the breaker) see other partitions' events as they arrive (README,
# "Limits"), so the stream is checked to leave them no room: no IP address is
# used by as many identities as shared-initiator-ip's threshold (20), and no
# minute holds as many blocks as the breaker's (100). Their Redis state
# (windows and sets of members with event-time scores) does not depend on the
# order of arrival.
BUILD=${1:-build}
. "$(dirname "$0")/common.sh"

sized EVENTS 10000 100000
sized IDENTITIES 1000 10000

prepare_stream "$EVENTS" "$IDENTITIES" 23 "$MARKERS" --attacks 5 --no-proxy
N=$(wc -l <"$WORK/stream.jsonl")
# The most identities any IP address starts logins for, over the whole stream.
ip_max=$(grep '"type":"login.started"' "$WORK/stream.jsonl" |
    sed -n 's/.*"identity":"\([^"]*\)".*"ip":"\([^"]*\)".*/\2 \1/p' | sort -u |
    awk '{ n[$1]++ } END { m = 0; for (k in n) if (n[k] > m) m = n[k]; print m }')
# A bound on the enforced blocks in any sliding minute: the most in two
# consecutive calendar minutes that hold blocks.
block_max=$(grep '"kind":"block_' "$WORK/replay.jsonl" | grep '"mode":"enforce"' |
    sed -n 's/.*"ts":"\([^"]\{16\}\).*/\1/p' | sort | uniq -c |
    awk '{ if (NR > 1 && prev + $1 > m) m = prev + $1; if ($1 > m) m = $1; prev = $1 } END { print m + 0 }')
check "the stream: at most $ip_max identities per IP address (threshold 20)" test "$ip_max" -lt 20
check "the stream: at most $block_max blocks in a minute (breaker 100)" test "$block_max" -lt 100

ref_start one 4 # one daemon
start_kafka 4
collector_start two
check "redis-server started" redis_up
write_conf "$WORK/d1.conf"
write_conf "$WORK/d2.conf"
start_detector "$WORK/d1.conf" "$WORK/d1.log"
PID_1=$DETECTOR_PID
start_detector "$WORK/d2.conf" "$WORK/d2.log"
PID_2=$DETECTOR_PID
both_assigned() { grep -q "assigned 2 partitions" "$WORK/d1.log" && grep -q "assigned 2 partitions" "$WORK/d2.log"; }
check "two daemons in one group: two partitions each" wait_for 60 both_assigned
assignments=$(cat "$WORK"/d?.log | grep -c assigned)
t0=$(now)
check "the stream is in Kafka" produce_all
both_done() { [ $(($(processed "$WORK/stats-d1.json") + $(processed "$WORK/stats-d2.json"))) -ge "$N" ]; }
wait_for 600 both_done
two_s=$(since "$t0")
check "every action and marker published" wait_for 300 collected two
check "the daemons are done" settle "$WORK/stats-d1.json" "$WORK/stats-d2.json"
check "no rebalance during the run" test "$(cat "$WORK"/d?.log | grep -c assigned)" -eq "$assignments"
rc=0
for p in $PID_1 $PID_2; do
    kill -TERM "$p"
    wait "$p" || rc=1
done
check "both daemons stopped cleanly" test "$rc" -eq 0
collector_stop two
ref_finish

n1=$(processed "$WORK/stats-d1.json")
n2=$(processed "$WORK/stats-d2.json")
check "each daemon processed events of its own ($n1 + $n2)" eval '[ "$n1" -gt 0 ] && [ "$n2" -gt 0 ]'
check "together, each event once ($((n1 + n2)) of $N)" test $((n1 + n2)) -eq "$N"
check "no breaker trip" test "$(stat_top "$WORK/stats-d1.json" breaker_trips)$(stat_top "$WORK/stats-d2.json" breaker_trips)" = 00
check_actions "two daemons" "$WORK/two-actions.jsonl" "$WORK/one-actions.jsonl"
check "two daemons: each action published once" \
    test "$(wc -l <"$WORK/two-actions.jsonl")" -eq "$(action_ids "$WORK/two-actions.jsonl" | wc -l)"
check_state "two daemons: Redis state equals one daemon's" "$WORK/dump-one"

figure "events, partitions" "$N, 4"
figure "events per daemon" "$n1 + $n2"
figure "action ids (both runs)" "$(action_ids "$WORK/one-actions.jsonl" | wc -l)"
figure "Redis keys compared" "$(grep -c '^[a-z]* sad:' "$WORK/dump-one")"
figure "two daemons: stream produced to all processed (s)" "$two_s"
figure "most identities per IP, most blocks in a minute" "$ip_max, $block_max"
finish

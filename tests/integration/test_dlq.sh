#!/usr/bin/env bash
# Bad events go to the dead-letter topic with their original bytes and
# headers naming source topic, partition, offset and reason; unknown types
# are counted and skipped; everything else is processed.
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"

"$GEN" --events 500 --identities 50 --attacks 10 --seed 3 >"$WORK/good.jsonl"
{
    head -250 "$WORK/good.jsonl"
    echo 'this is not json'
    echo '{"event_id":"b-1","ts":"2026-11-05T10:00:00Z","type":"login.started","identity":"id-x"}'
    echo '{"event_id":"b-2","ts":"2026-11-05T10:00:00Z","type":"login.started","identity":"id x","request_id":"r"}'
    echo '{"event_id":"b-3","ts":"yesterday","type":"login.started","identity":"id-x","request_id":"r"}'
    echo '{"event_id":"b-4","event_id":"b-4","ts":"2026-11-05T10:00:00Z","type":"login.started","identity":"id-x","request_id":"r"}'
    echo '{"event_id":"b-5","ts":"2026-11-05T10:00:00Z","type":"login.rejected","identity":"id-x","request_id":"r","reported":"yes"}'
    echo '{"event_id":"b-6","ts":"2026-11-05T10:00:00Z","type":"login.started","identity":"id-x","request_id":"r","x":[[[[[[[[1]]]]]]]]}'
    echo '{"event_id":"b-7","ts":"2026-11-05T10:00:00Z","type":"login.started","identity":"id-x","request_id":"r","user_agent":"a\u0000b"}'
    echo '{"event_id":"u-1","ts":"2026-11-05T10:00:00Z","type":"passkey.created","identity":"id-x"}'
    # 1.5 MB: over the size limit, and over what one Kafka message may carry.
    head -c 1500000 /dev/zero | tr '\0' 'x'; echo
    tail -n +251 "$WORK/good.jsonl"
} >"$WORK/stream.jsonl"
"$DET" replay -c "$ROOT/config/detector.conf" "$WORK/stream.jsonl" >"$WORK/replay.jsonl" 2>"$WORK/replay.err"
check "replay reports 9 bad events and 1 unknown type" grep -q "(500 valid, 9 bad, 1 unknown type)" "$WORK/replay.err"

start_redis
start_kafka 1
write_conf "$WORK/detector.conf"
start_detector "$WORK/detector.conf" "$WORK/detector.log"
produce auth.events "$WORK/stream.jsonl"
wait_actions "$(wc -l <"$WORK/replay.jsonl")" "$WORK/live.jsonl"
check "the valid events were all processed (actions equal replay's)" cmp -s "$WORK/replay.jsonl" "$WORK/live.jsonl"
"$KTOOL" consume -b "$BOOTSTRAP" -t auth.events.dlq --from-beginning --count 9 --idle-ms 10000 \
    --timeout-ms 60000 --format json >"$WORK/dlq.jsonl" 2>>"$WORK/consume.log"
check "9 messages in the dead-letter topic" test "$(wc -l <"$WORK/dlq.jsonl")" -eq 9
check "each carries source.topic" test "$(grep -c '"source.topic":"auth.events"' "$WORK/dlq.jsonl")" -eq 9
check "each carries source.partition and source.offset" test "$(grep -c '"source.partition":"0","source.offset":"[0-9]*"' "$WORK/dlq.jsonl")" -eq 9
check "the 1.5 MB event is cut to 512 KiB, and its headers say so" \
    grep -q '"reason":"event is 1500000 bytes, over the 64 KiB limit","original.size":"1500000","truncated":"true"' "$WORK/dlq.jsonl"
check "its first 512 KiB are kept" test "$(grep -o 'xxxxxxxx*' "$WORK/dlq.jsonl" | awk '{ print length }' | sort -n | tail -1)" -eq 524288
check "the not-JSON line kept its bytes" grep -q '"value":"this is not json"' "$WORK/dlq.jsonl"
check "offset of the first bad event is 250" grep -q '"source.offset":"250"' "$WORK/dlq.jsonl"
for r in 'invalid JSON' 'missing required field \\"request_id\\" for type login.started' \
         'field \\"identity\\" does not match' 'field \\"ts\\" is not an RFC 3339 timestamp' \
         'duplicate key \\"event_id\\"' 'field \\"reported\\" must be a boolean' \
         'nesting deeper than 8 levels'; do
    check "reason: $r" grep -q "\"reason\":\"$r" "$WORK/dlq.jsonl"
done

# The bench's producer: kafka_tool produce --keyed takes the key from before a
# tab and sends the rest (a later tab included); a line without a tab is
# refused, the others go.
printf 'id-k1\t{"a":1}\nno tab here\nid-k2\t{"b":"x\ty"}\n' >"$WORK/keyed.txt"
"$KTOOL" produce -b "$BOOTSTRAP" -t tool.keyed --keyed "$WORK/keyed.txt" 2>"$WORK/keyed.err"
check "produce --keyed exits 1 for the line without a tab" test $? -eq 1
check "and names that line" grep -q 'line 2: no tab after a key (--keyed)' "$WORK/keyed.err"
"$KTOOL" consume -b "$BOOTSTRAP" -t tool.keyed --from-beginning --count 2 --idle-ms 10000 \
    --timeout-ms 60000 --format json >"$WORK/keyed.jsonl" 2>>"$WORK/consume.log"
check "the first keyed line: key id-k1, value the rest" grep -q '"key":"id-k1","value":"{\\"a\\":1}"' "$WORK/keyed.jsonl"
check "the second keyed line: key id-k2, the value's own tab kept" grep -q '"key":"id-k2","value":"{\\"b\\":\\"x\\ty\\"}"' "$WORK/keyed.jsonl"
stop_detector TERM
check "the daemon counted 9 bad and 1 unknown" grep -q "9 bad, 1 unknown type" "$WORK/detector.log"
finish

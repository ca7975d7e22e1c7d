#!/usr/bin/env bash
# detector migrate: a store of layout 1 (windows, known sets and requests in
# keys of their own, the marker without a layout) is refused by the daemon,
# moved by `detector migrate` into P{SCOPE}:z, and then decided on as if it
# had been written by this version.
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"

T=1795168800000000 # 2026-11-20T10:00:00Z, in µs
MIN=60000000
DAY=86400000000
US=$'\x1f'

start_redis --zset-max-listpack-value 256
start_kafka 1
write_conf "$WORK/detector.conf"

# ---- a store of layout 1, as the earlier version wrote it
rcli hset 'sad:{detector}:marker' since 2026-11-01T00:00:00Z by 'old pid 1' >/dev/null
# id-m1 knows device br-1 and IP 203.0.113.1 (learned 10 days before)
rcli zadd 'sad:{id-m1}:s:known_devices' $((T - 10 * DAY)) l:br-1 $((T - 10 * DAY)) f:br-1 >/dev/null
rcli zadd 'sad:{id-m1}:s:known_ips' $((T - 10 * DAY)) l:203.0.113.1 $((T - 12 * DAY)) f:203.0.113.1 >/dev/null
rcli pexpire 'sad:{id-m1}:s:known_devices' $((91 * 86400000)) >/dev/null
rcli pexpire 'sad:{id-m1}:s:known_ips' $((91 * 86400000)) >/dev/null
# id-m2 started 3 logins in the last 5 minutes
rcli zadd 'sad:{id-m2}:w:login.started' $((T - 5 * MIN)) old-1 $((T - 4 * MIN)) old-2 $((T - 3 * MIN)) old-3 >/dev/null
rcli pexpire 'sad:{id-m2}:w:login.started' $((86400000 + 1200000)) >/dev/null
rcli zadd 'sad:{id-m2}:w:reset:login-burst' $((T - 30 * DAY)) reset-1 >/dev/null
# id-m3 has a request r-1 started a minute ago from Sweden, and one whose id holds a %
rcli hset 'sad:{id-m3}:q:initiator' r-1 "$((T - MIN)) 5:old-9 7:country 2:SE 9:device_id 4:br-7 2:ip 12:198.51.100.9" \
    'r%2' "$((T - MIN)) 6:old-10 2:ip 8:192.0.2.1" >/dev/null
rcli pexpire 'sad:{id-m3}:q:initiator' $((2 * 86400000 + 900000)) >/dev/null
# the breaker's window, and what layout 2 keeps as it was
rcli zadd 'sad:{breaker}:w:blocks' $((T - MIN)) act-1 >/dev/null
rcli zadd 'sad:{ip=203.0.113.1}:d:login.started:identity@ip' $((T - MIN)) id-m1 >/dev/null
rcli set 'sad:{id-m1}:c:login-burst' "$((T - MIN)) old-5" >/dev/null

# ---- the daemon refuses it
"$DET" run -c "$WORK/detector.conf" >"$WORK/refused.log" 2>&1
rc=$?
check "the daemon refuses a store of layout 1 (exit $rc)" test "$rc" -eq 1
check "it says why and what to do" grep -q 'layout 1, written by an earlier version.*detector migrate' "$WORK/refused.log"

# ---- a dry run counts and moves nothing
"$DET" migrate --dry-run -c "$WORK/detector.conf" >"$WORK/dry.out" 2>&1
check "dry run: 6 keys, 11 members" grep -q '^would move 6 keys of layout 1 (11 members) into layout 2$' "$WORK/dry.out"
check "dry run: nothing moved" test "$(rcli exists 'sad:{id-m1}:s:known_devices' 'sad:{id-m1}:z')" -eq 1
check "dry run: the marker keeps no layout" test -z "$(rcli hget 'sad:{detector}:marker' layout)"

# ---- the migration
"$DET" migrate -c "$WORK/detector.conf" >"$WORK/migrate.out" 2>&1
check "migrate: 6 keys, 11 members" grep -q '^moved 6 keys of layout 1 (11 members) into layout 2' "$WORK/migrate.out"
check "migrate: no key of layout 1 is left" test -z "$(rcli --scan --pattern 'sad:*' | grep -E '^sad:\{[^}]*\}:[wsq]:')"
score() { rcli zscore "$1" "$2"; }
check "a known set's latest time" test "$(score 'sad:{id-m1}:z' "lknown_ips${US}203.0.113.1")" = $((T - 10 * DAY))
check "a known set's first time" test "$(score 'sad:{id-m1}:z' "fknown_ips${US}203.0.113.1")" = $((T - 12 * DAY))
check "both sets in one key" test "$(rcli zcard 'sad:{id-m1}:z')" -eq 4
check "the longest TTL is kept (90 days and more)" test "$(rcli pttl 'sad:{id-m1}:z')" -gt $((90 * 86400000))
check "a window's members" test "$(score 'sad:{id-m2}:z' "wlogin.started${US}old-2")" = $((T - 4 * MIN))
check "the resets' window beside it" test "$(score 'sad:{id-m2}:z' "wreset:login-burst${US}reset-1")" = $((T - 30 * DAY))
check "a request, scored with its time" \
    test "$(score 'sad:{id-m3}:z' "qinitiator${US}r-1${US} 5:old-9 7:country 2:SE 9:device_id 4:br-7 2:ip 12:198.51.100.9")" = $((T - MIN))
check "a request id's % is escaped" test "$(score 'sad:{id-m3}:z' "qinitiator${US}r%252${US} 6:old-10 2:ip 8:192.0.2.1")" = $((T - MIN))
check "the breaker's window" test "$(score 'sad:{breaker}:z' "wblocks${US}act-1")" = $((T - MIN))
check "distinct counts and cooldowns are left as they were" \
    test "$(rcli exists 'sad:{ip=203.0.113.1}:d:login.started:identity@ip' 'sad:{id-m1}:c:login-burst')" -eq 2
check "the marker says layout 2" test "$(rcli hget 'sad:{detector}:marker' layout)" = 2
check "the marker keeps its start" test "$(rcli hget 'sad:{detector}:marker' since)" = 2026-11-01T00:00:00Z
"$DET" migrate -c "$WORK/detector.conf" >"$WORK/again.out" 2>&1
check "a second run has nothing to do" grep -q '^state layout 2: nothing to migrate$' "$WORK/again.out"

# ---- decisions on the migrated state
ts() { printf '2026-11-20T10:00:%02dZ' "$1"; }
{
    # a device id-m1 knows: no block; the same change for an identity without state: a block
    printf '{"event_id":"m-1","ts":"%s","type":"userid.changed","identity":"id-m1","old_user_id":"a","new_user_id":"b","ip":"203.0.113.1","device_id":"br-1","channel":"self_service"}\n' "$(ts 1)"
    printf '{"event_id":"m-2","ts":"%s","type":"userid.changed","identity":"id-m4","old_user_id":"a","new_user_id":"b","ip":"203.0.113.4","device_id":"br-1","channel":"self_service"}\n' "$(ts 2)"
    # two more login requests for id-m2: with the 3 migrated, a burst of 5
    for i in 3 4; do
        printf '{"event_id":"m-%s","ts":"%s","type":"login.started","identity":"id-m2","request_id":"r-m%s","ip":"192.0.2.%s","country":"DK","device_id":"br-2","user_agent":"Mozilla/5.0","service_provider":"bank.example"}\n' "$i" "$(ts "$i")" "$i" "$i"
    done
    # id-m3 approves the migrated request started from Sweden
    printf '{"event_id":"m-5","ts":"%s","type":"login.approved","identity":"id-m3","request_id":"r-1","authenticator_id":"app-3","ip":"203.0.113.50","country":"DK"}\n' "$(ts 5)"
} >"$WORK/events.jsonl"
start_detector "$WORK/detector.conf" "$WORK/detector.log"
produce auth.events "$WORK/events.jsonl"
wait_actions 3 "$WORK/actions.jsonl"
check "three actions" test "$(wc -l <"$WORK/actions.jsonl")" -eq 3
check "id-m1's known device (migrated): no block" test -z "$(grep '"identity":"id-m1"' "$WORK/actions.jsonl")"
check "the same change without state blocks id-m4" grep -q '"kind":"block_identity","identity":"id-m4","rule":"userid-change-unknown-device"' "$WORK/actions.jsonl"
check "the migrated window makes id-m2's burst (login-burst with 5 events)" \
    grep -q '"identity":"id-m2","rule":"login-burst".*"events":\["old-1","old-2","old-3","m-3","m-4"\]' "$WORK/actions.jsonl"
check "the migrated request makes id-m3's foreign initiator" \
    grep -q '"kind":"block_identity","identity":"id-m3","rule":"approval-foreign-initiator".*"events":\["old-9","m-5"\]' "$WORK/actions.jsonl"
stop_detector TERM
check "the daemon ran and stopped cleanly" test "$DETECTOR_RC" -eq 0
finish

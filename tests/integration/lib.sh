# lib.sh - the harness of the integration tests and the demo (bash).
#
# Starts real servers on loopback, each stopped by its process id on exit:
#   start_redis [extra redis-server args]   -> REDIS_PORT, REDIS_PID
#   start_kafka PARTITIONS                  -> BOOTSTRAP, KAFKA_PID
#   write_conf FILE                         a detector.conf for both
#   start_detector CONF LOG                 -> DETECTOR_PID
#   stop_detector [SIGNAL]
#   produce TOPIC FILE, consume TOPIC COUNT OUT [FORMAT]
#   rcli ARGS...                            redis-cli against the test server
# Checks: check NAME CONDITION-COMMAND..., and finish (prints the tally).

BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DET="$ROOT/$BUILD/detector"
KMOCK="$ROOT/$BUILD/tools/kafka_mock"
KTOOL="$ROOT/$BUILD/tools/kafka_tool"
GEN="$ROOT/$BUILD/tools/gen_events"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/detector-test.XXXXXX")
PIDS=""
CHECKS_PASSED=0
CHECKS_FAILED=0

cleanup() {
    for p in $PIDS; do
        if kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p" 2>/dev/null
            for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$p" 2>/dev/null
        fi
        wait "$p" 2>/dev/null
    done
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK" ${WORK_SHM:+"$WORK_SHM"}
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

# A port below the kernel's ephemeral range (32768 and up by default), so
# that no outgoing connection can take it between this check and the bind.
free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# launch_redis [args]: starts redis-server on $REDIS_PORT with $WORK/redis as
# its directory and waits until it answers.
launch_redis() {
    mkdir -p "$WORK/redis"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --dir "$WORK/redis" \
        --daemonize no "$@" >>"$WORK/redis.log" 2>&1 &
    REDIS_PID=$!
    PIDS="$PIDS $REDIS_PID"
    for _ in $(seq 1 100); do
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
        kill -0 "$REDIS_PID" 2>/dev/null || break # exited (the port was taken)
        sleep 0.05
    done
    log "redis did not start:"; cat "$WORK/redis.log" >&2
    return 1
}

# start_redis [args]: on a free port, tried again on another when the bind
# failed (another program took the port after free_port looked).
start_redis() {
    for _ in 1 2 3; do
        REDIS_PORT=$(free_port) && launch_redis --appendonly no "$@" && return 0
    done
    return 1
}

# restart_redis [args]: the same server again (same port and directory).
restart_redis() { launch_redis "$@"; }

rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

kafka_control() { printf '%s\n' "$*" >&7; }

start_kafka() {
    local parts=${1:-4}
    rm -f "$WORK/bootstrap"
    # Fault injection: with KAFKA_CONTROL set, the mock reads commands from
    # the FIFO $WORK/kafka.ctl (kafka_control "broker down 1").
    local input=/dev/null
    if [ -n "${KAFKA_CONTROL:-}" ]; then
        mkfifo "$WORK/kafka.ctl"
        input="$WORK/kafka.ctl"
    fi
    "$KMOCK" --brokers 3 --topic "auth.events:$parts" --topic "auth.actions:$parts" \
        --topic "auth.events.dlq:1" --port-file "$WORK/bootstrap" \
        <"$input" >"$WORK/kafka.log" 2>&1 &
    KAFKA_PID=$!
    PIDS="$PIDS $KAFKA_PID"
    # Hold the FIFO open for writing so the mock never sees its end.
    [ -n "${KAFKA_CONTROL:-}" ] && exec 7>"$WORK/kafka.ctl"
    for _ in $(seq 1 100); do
        [ -s "$WORK/bootstrap" ] && break
        sleep 0.05
    done
    BOOTSTRAP=$(cat "$WORK/bootstrap" 2>/dev/null)
    [ -n "$BOOTSTRAP" ] || { log "kafka mock did not start"; cat "$WORK/kafka.log" >&2; return 1; }
}

write_conf() {
    cat >"$1" <<EOF
rules.dir = ${RULES_DIR:-$ROOT/config/rules}
kafka.bootstrap.servers = $BOOTSTRAP
kafka.consumer.session.timeout.ms = 6000
kafka.consumer.heartbeat.interval.ms = 500
kafka.consumer.topic.metadata.refresh.interval.ms = 1000
group.id = detector
topic.events = auth.events
topic.actions = auth.actions
topic.dlq = auth.events.dlq
redis.host = 127.0.0.1
redis.port = $REDIS_PORT
redis.prefix = sad:
redis.timeout = 1s
batch.size = ${BATCH_SIZE:-500}
batch.time = 20ms
retry.max = 1s
log.level = info
stats.file = $WORK/stats-$(basename "$1" .conf).json
stats.interval = 200ms
EOF
    # Lines a test adds (later lines win): CONF_EXTRA="metrics.listen =".
    [ -z "${CONF_EXTRA:-}" ] || printf '%s\n' "$CONF_EXTRA" >>"$1"
}

start_detector() {
    "$DET" run -c "$1" >>"$2" 2>&1 &
    DETECTOR_PID=$!
    PIDS="$PIDS $DETECTOR_PID"
}

stop_detector() {
    local sig=${1:-TERM}
    kill -"$sig" "$DETECTOR_PID" 2>/dev/null
    wait "$DETECTOR_PID" 2>/dev/null
    DETECTOR_RC=$?
}

produce() { "$KTOOL" produce -b "$BOOTSTRAP" -t "$1" "$2" 2>>"$WORK/produce.log"; }

# consume TOPIC COUNT OUT [FORMAT]: reads from the beginning with a fresh group
# until COUNT messages, or 5 s without one after that (more would be an error
# the caller sees), at most 120 s.
consume() {
    "$KTOOL" consume -b "$BOOTSTRAP" -t "$1" --from-beginning --idle-ms "${IDLE_MS:-5000}" \
        --timeout-ms 120000 --format "${4:-value}" >"$3" 2>>"$WORK/consume.log"
}

# Waits until the detector logged N events processed... by reading actions:
# wait_actions COUNT OUT: consume until COUNT actions arrived (or timeout).
wait_actions() {
    "$KTOOL" consume -b "$BOOTSTRAP" -t auth.actions --from-beginning --count "$1" \
        --idle-ms 60000 --timeout-ms 120000 >"$2" 2>>"$WORK/consume.log"
}

# rule_stat RULE FIELD: a rule's figure in the daemon's statistics file.
rule_stat() {
    grep -A16 "\"rule\": \"$1\"" "$WORK/stats-detector.json" | sed -n "s/^ *\"$2\": \([0-9.]*\),*$/\1/p" | head -1
}

check() {
    local name=$1
    shift
    if "$@"; then
        CHECKS_PASSED=$((CHECKS_PASSED + 1))
        log "ok   $name"
    else
        CHECKS_FAILED=$((CHECKS_FAILED + 1))
        log "FAIL $name"
    fi
}

# Sorted unique action ids of a JSON Lines file of actions.
action_ids() { grep -o '"action_id":"[0-9a-f]*"' "$1" | sort -u; }

# A text dump of every key under the prefix (content, not TTLs), in one
# round trip.
redis_dump() {
    rcli --raw eval "
local out = {}
local keys = redis.call('KEYS', ARGV[1])
table.sort(keys)
for _, k in ipairs(keys) do
  -- the daemon's own bookkeeping (the state marker: when and by whom; the
  -- processed offsets, by consumer group) differs by run
  local t = string.sub(k, 1, 15) == 'sad:{detector}:' and 'skip' or redis.call('TYPE', k).ok
  if t ~= 'skip' then out[#out + 1] = t .. ' ' .. k end
  if t == 'zset' then
    local r = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
    for i = 1, #r, 2 do out[#out + 1] = '  ' .. r[i] .. ' ' .. r[i + 1] end
  elseif t == 'hash' then
    local r = redis.call('HGETALL', k)
    local f = {}
    for i = 1, #r, 2 do f[#f + 1] = '  ' .. r[i] .. '=' .. r[i + 1] end
    table.sort(f)
    for _, x in ipairs(f) do out[#out + 1] = x end
  elseif t == 'list' then
    for _, v in ipairs(redis.call('LRANGE', k, 0, -1)) do out[#out + 1] = '  ' .. v end
  elseif t == 'string' then
    out[#out + 1] = '  ' .. redis.call('GET', k)
  end
end
return table.concat(out, '\n')" 0 'sad:*'
}

# A marker event whose alert (rule reported-request) proves that everything
# produced before it on its partition was processed: marker_event ID TS.
marker_event() {
    printf '{"event_id":"marker-%s","ts":"%s","type":"login.rejected","identity":"marker-%s","request_id":"m-%s","reported":true}\n' "$1" "$2" "$1" "$1"
}

# wait_marker ID: waits until the marker's alert is on the actions topic.
wait_marker() {
    local i
    for i in $(seq 1 60); do
        "$KTOOL" consume -b "$BOOTSTRAP" -t auth.actions --from-beginning --idle-ms 1500 \
            --timeout-ms 30000 >"$WORK/marker.out" 2>>"$WORK/consume.log"
        grep -q "\"identity\":\"marker-$1\"" "$WORK/marker.out" && return 0
        sleep 0.5
    done
    return 1
}

# prepare_stream EVENTS IDENTITIES SEED MARKERS [gen_events options]: a generated
# stream plus MARKERS marker events at its end, in $WORK/stream.jsonl, and
# what replay decides for it, in $WORK/replay.jsonl.
prepare_stream() {
    local events=$1 identities=$2 seed=$3 markers=$4 i
    shift 4
    "$GEN" --events "$events" --identities "$identities" --seed "$seed" "$@" >"$WORK/events.jsonl"
    for i in $(seq 1 "$markers"); do marker_event "$i" "2026-12-31T00:00:$(printf %02d "$i")Z"; done >"$WORK/markers.jsonl"
    cat "$WORK/events.jsonl" "$WORK/markers.jsonl" >"$WORK/stream.jsonl"
    "$DET" replay -c "$ROOT/config/detector.conf" "$WORK/stream.jsonl" >"$WORK/replay.jsonl" 2>/dev/null
}

# reference_run NAME: one daemon, undisturbed, over what auth.events holds,
# with its own Redis, group and actions topic; leaves its actions in
# $WORK/NAME-actions.jsonl, its state in $WORK/dump-NAME and the number of
# its keys in $final_keys.
reference_run() {
    local name=$1
    start_redis
    write_conf "$WORK/$name.conf"
    sed -i "s/^group.id = .*/group.id = $name/; s/^topic.actions = .*/topic.actions = auth.actions.$name/" "$WORK/$name.conf"
    start_detector "$WORK/$name.conf" "$WORK/$name.log"
    "$KTOOL" consume -b "$BOOTSTRAP" -t "auth.actions.$name" --from-beginning --count "$(wc -l <"$WORK/replay.jsonl")" \
        --idle-ms 60000 --timeout-ms 180000 >"$WORK/$name-actions.jsonl" 2>>"$WORK/consume.log"
    final_keys=$(rcli dbsize)
    stop_detector TERM
    redis_dump >"$WORK/dump-$name"
}

# collect_actions N OUT: consumes auth.actions from the start until the N
# markers and every action id of replay are there (at most 40 tries).
collect_actions() {
    local want_ids
    want_ids=$(action_ids "$WORK/replay.jsonl" | wc -l)
    for _ in $(seq 1 80); do
        IDLE_MS=2500 consume auth.actions 0 "$2"
        [ "$(grep -c '"identity":"marker-' "$2")" -ge "$1" ] &&
            [ "$(action_ids "$2" | wc -l)" -ge "$want_ids" ] && return 0
    done
    log "collect_actions: gave up waiting: $(grep -c '"identity":"marker-' "$2") of $1 markers, $(action_ids "$2" | wc -l) of $want_ids action ids"
    return 1
}

# check_state LABEL REFERENCE_DUMP: the Redis state now equals the reference.
check_state() {
    redis_dump >"$WORK/dump-now"
    check "$1" cmp -s "$WORK/dump-now" "$2"
    cmp -s "$WORK/dump-now" "$2" || diff "$WORK/dump-now" "$2" | head -10 >&2
}

finish() {
    log "$(basename "$0"): $CHECKS_PASSED passed, $CHECKS_FAILED failed"
    [ "$CHECKS_FAILED" -eq 0 ] && [ "$CHECKS_PASSED" -gt 0 ]
}

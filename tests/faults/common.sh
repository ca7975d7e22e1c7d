# common.sh - what the fault-injection tests share (bash; sourced by
# tests/faults/*.sh after BUILD is set). Sources tests/integration/lib.sh.
#
# Size: FAULTS_SIZE=full (make test-faults, the default) or short (the
# wrappers tests/integration/test_*.sh that make test runs). A test declares
# its numbers with `sized NAME SHORT FULL`; FAULT_NAME in the environment
# overrides either (FAULT_EVENTS=50000 bash tests/faults/kill9.sh).
#
# Figures: `figure NAME VALUE` prints "figure TEST NAME = VALUE" on stderr
# and appends "TEST<TAB>NAME<TAB>VALUE" to $FAULTS_FIGURES when set
# (tests/faults/run.sh collects them into one table).
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

export LC_ALL=C # "." in $EPOCHREALTIME and in awk's numbers
FAULTS_SIZE=${FAULTS_SIZE:-full}
MARKERS=40 # marker events at the end of each stream (prepare_stream)
TEST_NAME=$(basename "$0" .sh)
# No metrics endpoint unless a test asks for one: several daemons on one
# host (and other test runs) would all want the default port.
CONF_EXTRA=${CONF_EXTRA-"metrics.listen ="}

sized() {
    local over="FAULT_$1"
    if [ -n "${!over:-}" ]; then
        printf -v "$1" %s "${!over}"
    elif [ "$FAULTS_SIZE" = short ]; then
        printf -v "$1" %s "$2"
    else
        printf -v "$1" %s "$3"
    fi
}

figure() {
    log "figure $TEST_NAME $1 = $2"
    [ -z "${FAULTS_FIGURES:-}" ] || printf '%s\t%s\t%s\n' "$TEST_NAME" "$1" "$2" >>"$FAULTS_FIGURES"
}

# calc EXPR [FMT]: floating-point arithmetic (awk), %.2f unless FMT.
calc() { awk "BEGIN { printf \"${2:-%.2f}\", ($1) }"; }
now() { echo "$EPOCHREALTIME"; }
# since T0 [T1]: seconds from T0 to T1 (default: now), 2 decimals.
since() { calc "${2:-$EPOCHREALTIME} - $1"; }
# le A B: A <= B (floating point).
le() { awk "BEGIN { exit !(($1) <= ($2)) }"; }
# log_time LINE: the wall-clock time (seconds) of a daemon log line.
log_time() { date -u -d "${1%% *}" +%s.%N; }

# stat_top FILE KEY: a top-level number of a daemon's statistics file.
stat_top() { sed -n "s/^  \"$2\": \([0-9.]*\),*$/\1/p" "$1" 2>/dev/null | head -1; }
# processed FILE: the events a daemon has taken (valid, bad, unknown type).
processed() {
    awk '/^  "(events|bad|unknown)": / { gsub(/[^0-9]/, "", $2); n += $2 } END { print n + 0 }' \
        "$1" 2>/dev/null || echo 0
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds (every 50 ms); 1 on timeout.
wait_for() {
    local until=$((${EPOCHREALTIME%.*} + $1))
    shift
    until "$@"; do
        [ "${EPOCHREALTIME%.*}" -lt "$until" ] || return 1
        sleep "${WAIT_STEP:-0.05}"
    done
}
# processed_over FILE N: the daemon's counter is above N.
processed_over() { [ "$(processed "$1")" -gt "$2" ]; }
# settle STATS...: waits (2 minutes at most) until the counters of the
# daemons have not moved for 2 s. A daemon started again after a fault
# processes again what was not committed, and feeds the state of each event
# again: an old event puts back a window member that a later event had
# pruned, and the later event prunes it again. All action ids can be out
# before that ends; the state is compared once it has.
settle() {
    local last=-1 now still=0 until=$((${EPOCHREALTIME%.*} + 120))
    while [ "$still" -lt 20 ] && [ "${EPOCHREALTIME%.*}" -lt "$until" ]; do
        now=$(for f in "$@"; do processed "$f"; done | tr '\n' ' ')
        if [ "$now" = "$last" ]; then still=$((still + 1)); else still=0 last=$now; fi
        sleep 0.1
    done
    [ "$still" -ge 20 ]
}

# The whole stream at once, lz4-compressed: the mock keeps ~5 MB per
# partition, which holds 100,000 compressed events (uncompressed it would
# drop the oldest; the reference checks that it read every event).
produce_all() {
    "$KTOOL" produce -b "$BOOTSTRAP" -t auth.events -X compression.codec=lz4 "${1:-$WORK/stream.jsonl}" \
        2>>"$WORK/produce.log"
}
# produce_paced RATE [FILE]: in the background, RATE events per second (a
# live stream). -> PRODUCER_PID
produce_paced() {
    "$KTOOL" produce -b "$BOOTSTRAP" -t auth.events --rate "$1" -X compression.codec=lz4 \
        "${2:-$WORK/stream.jsonl}" 2>>"$WORK/produce.log" &
    PRODUCER_PID=$!
    PIDS="$PIDS $PRODUCER_PID"
}

# redis_up [redis-server args]: start_redis, on a port below the ephemeral
# range (a restart on the same port cannot find it taken by some client's
# outgoing connection), tried again on another port if the server did not
# start. -> REDIS_PORT, REDIS_PID
low_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 12000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
    done
    return 1
}
redis_up() {
    for _ in 1 2 3; do
        REDIS_PORT=$(low_port) && launch_redis --appendonly no "$@" && return 0
    done
    log "redis-server did not start"
    return 1
}

# stop_pid PID [SIGNAL]: stops a process this test started, and waits.
stop_pid() {
    kill -"${2:-TERM}" "$1" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# collector_start NAME [GROUP]: reads auth.actions of the cluster at
# $BOOTSTRAP from the beginning, in the background, into
# $WORK/NAME-actions.jsonl, until collector_stop NAME. Started early, its
# group join (3 s on the mock) overlaps the test; it fetches every 20 ms,
# so the file follows what the daemon publishes closely.
declare -A COLLECTOR
collector_start() {
    "$KTOOL" consume -b "$BOOTSTRAP" -t auth.actions --from-beginning ${2:+--group "$2"} \
        -X fetch.wait.max.ms=20 --idle-ms 3600000 --timeout-ms 3600000 \
        >"$WORK/$1-actions.jsonl" 2>>"$WORK/consume.log" &
    COLLECTOR[$1]=$!
    PIDS="$PIDS $!"
}
# collected NAME: every action id of replay and every marker's alert are
# in NAME's file.
collected() {
    [ "$(grep -c '"identity":"marker-' "$WORK/$1-actions.jsonl")" -ge "$MARKERS" ] &&
        [ "$(action_ids "$WORK/$1-actions.jsonl" | wc -l)" -ge "$(action_ids "$WORK/replay.jsonl" | wc -l)" ]
}
# collector_stop NAME: once the file has not grown for a second (what a
# stopping daemon delivered last is in), stops the collector.
collector_stop() {
    local size=-1
    while [ "$(wc -c <"$WORK/$1-actions.jsonl")" -ne "$size" ]; do
        size=$(wc -c <"$WORK/$1-actions.jsonl")
        sleep 1
    done
    stop_pid "${COLLECTOR[$1]}"
}

# The reference: the same stream, produced at once to a mock cluster of its
# own and read by one daemon with a Redis of its own, never disturbed,
# while the test goes on.
#
# ref_start NAME PARTITIONS [redis-server args]: starts it (the stream is
# $WORK/stream.jsonl from prepare_stream).
ref_start() {
    local name=$1 parts=$2
    shift 2
    REF_NAME=$name
    KAFKA_CONTROL='' start_kafka "$parts"
    mv "$WORK/kafka.log" "$WORK/kafka-$name.log" # the test's cluster gets kafka.log
    REF_BOOTSTRAP=$BOOTSTRAP
    check "reference $name: the stream is in its cluster" produce_all
    check "reference $name: redis-server" redis_up "$@"
    REF_PORT=$REDIS_PORT
    write_conf "$WORK/$name.conf"
    sed -i "s/^group.id = .*/group.id = $name/" "$WORK/$name.conf"
    start_detector "$WORK/$name.conf" "$WORK/$name.log"
    REF_PID=$DETECTOR_PID
    collector_start "$name"
    BOOTSTRAP='' KAFKA_PID='' REDIS_PORT='' REDIS_PID='' DETECTOR_PID=''
}
# ref_wait: until the reference has processed the whole stream. -> REF_KEYS
# (the number of keys it wrote)
ref_wait() {
    check "reference $REF_NAME: read all $(wc -l <"$WORK/stream.jsonl") events" \
        wait_for 600 eval '[ "$(processed "$WORK/stats-$REF_NAME.json")" -ge "$(wc -l <"$WORK/stream.jsonl")" ]'
    REF_KEYS=$(REDIS_PORT=$REF_PORT rcli dbsize)
}
# ref_finish: its actions in $WORK/NAME-actions.jsonl, its Redis state in
# $WORK/dump-NAME; checks that it read each event once and decided what
# replay decides.
ref_finish() {
    ref_wait
    wait_for 300 collected "$REF_NAME"
    kill -TERM "$REF_PID"
    wait "$REF_PID"
    check "reference $REF_NAME: stopped cleanly" test $? -eq 0
    collector_stop "$REF_NAME"
    check "reference $REF_NAME: processed every event exactly once" \
        test "$(processed "$WORK/stats-$REF_NAME.json")" -eq "$(wc -l <"$WORK/stream.jsonl")"
    check "reference $REF_NAME: the action ids of replay" \
        cmp -s <(action_ids "$WORK/replay.jsonl") <(action_ids "$WORK/$REF_NAME-actions.jsonl")
    REDIS_PORT=$REF_PORT redis_dump >"$WORK/dump-$REF_NAME"
}

# check_actions LABEL OUT REFERENCE: OUT (what the faulted run published)
# holds every action id of REFERENCE and no other; a message published more
# than once (at-least-once) is the same bytes each time; the distinct
# messages are byte for byte REFERENCE's. Figures: messages, ids, repeats.
check_actions() {
    local label=$1 out=$2 ref=$3 msgs ids lines
    msgs=$(wc -l <"$out")
    ids=$(action_ids "$out" | wc -l)
    lines=$(sort -u "$out" | wc -l)
    check "$label: every action id of the undisturbed run, and no other" \
        cmp -s <(action_ids "$ref") <(action_ids "$out")
    check "$label: an action published again is the same bytes" test "$lines" -eq "$ids"
    check "$label: the distinct messages equal the undisturbed run's byte for byte" \
        cmp -s <(sort -u "$ref") <(sort -u "$out")
    figure "actions: messages" "$msgs"
    figure "actions: distinct action ids" "$ids"
    figure "actions: published again (same id, same bytes)" "$((msgs - ids))"
}

# start_and_time CONF LOG STATS [TIMEOUT]: starts the daemon and waits until
# it has processed an event (STATS removed first). -> RESUME (seconds, empty
# when it did not within TIMEOUT, default 60 s)
# stop_timed PID: SIGTERM to a daemon this test started, waited for.
# -> STOP_RC (its exit status), STOP_S (seconds from the signal to the exit)
stop_timed() {
    local t0
    t0=$(now)
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    STOP_RC=$?
    STOP_S=$(since "$t0")
}
# stop_detector_timed: stop_timed of $DETECTOR_PID. -> DETECTOR_RC, STOP_S
stop_detector_timed() {
    stop_timed "$DETECTOR_PID"
    DETECTOR_RC=$STOP_RC
}

# start_live_a: the daemon "a" (a.conf, a.log, stats-a.json; CONF_EXTRA as
# write_conf takes it) and, once it has its partitions (at most 60 s), the
# paced stream at $RATE: the stream's length is then the phases' time, not
# the group join's too (in a slow spell of the machine, the redis suite's
# daemon had processed its first 1,000 events only 18 s into a 22 s stream,
# and its later phases found the stream ended).
# -> STATS, LOG, DETECTOR_PID, PRODUCER_PID
start_live_a() {
    write_conf "$WORK/a.conf"
    STATS="$WORK/stats-a.json"
    LOG="$WORK/a.log"
    start_detector "$WORK/a.conf" "$LOG"
    wait_for 60 grep -q "assigned [1-9]" "$LOG" || log "start_live_a: no partition assigned within 60 s"
    produce_paced "$RATE"
}

start_and_time() {
    local t0
    rm -f "$3"
    t0=$(now)
    start_detector "$1" "$2"
    RESUME=
    wait_for "${4:-60}" processed_over "$3" 0 && RESUME=$(since "$t0")
}

# spread NUMBER...: "min median max".
spread() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%s %s %s", v[1], v[int((NR + 1) / 2)], v[NR] }'; }

#!/usr/bin/env bash
# The analyst's replay tools, no servers needed:
#  - --explain (text and JSON, with and without filters) decides exactly the
#    actions and counters of a plain replay, on a large generated stream;
#  - the per-rule table's columns equal counts computed from the actions;
#  - --compare with a rule set where login-burst's threshold is 3, not 5,
#    lists the identities that only the second set alerts;
#  - progress lines on stderr for long runs;
#  - the reading thread (replay.c): several files, stdin, blank lines, CRLF
#    and bad lines at chunk edges decide what one file does, bad lines are
#    named by file and line, a missing file stops after what came before;
#  - explain output carries no raw control bytes from attacker text.
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"
CONF="$ROOT/config/detector.conf"
cd "$ROOT" || exit 1

# The stderr table without its timing line and progress lines.
table() { grep -v '^replay: ' "$1"; }

# Field N of rule R's line in a table file ($1 rule, $2 mode, $3 evaluated,
# $4 hits, $5 alert, $6 block_id, $7 block_auth, $8 shadow, $9 identities).
col() { awk -v r="$2" -v c="$3" '$1 == r { print $c; exit }' "$1"; }

# --- explain decides nothing differently -----------------------------------
"$GEN" --events 60000 --identities 1500 --attacks 6 --seed 11 >"$WORK/big.jsonl"
"$DET" replay -c "$CONF" "$WORK/big.jsonl" >"$WORK/plain.jsonl" 2>"$WORK/plain.err"
n=$(wc -l <"$WORK/plain.jsonl")
check "plain replay decided something ($n actions)" test "$n" -gt 1000

"$DET" replay -c "$CONF" --explain --format json "$WORK/big.jsonl" >"$WORK/ex.jsonl" 2>"$WORK/ex.err"
check "explain json: one line per event" test "$(wc -l <"$WORK/ex.jsonl")" -eq 60000
# The fired outcomes carry the action as published; no action nests braces.
grep -o '"action":{[^}]*}' "$WORK/ex.jsonl" | sed 's/^"action"://' >"$WORK/ex-actions.jsonl"
check "explain json: the same actions, in the same order" \
    cmp -s "$WORK/plain.jsonl" "$WORK/ex-actions.jsonl"
check "explain json: the same per-rule table" \
    diff <(table "$WORK/plain.err") <(table "$WORK/ex.err")

"$DET" replay -c "$CONF" --explain "$WORK/big.jsonl" >"$WORK/ex.txt" 2>"$WORK/ex-txt.err"
grep -o '"action_id":"[0-9a-f]*"' "$WORK/plain.jsonl" | cut -d'"' -f4 >"$WORK/plain.ids"
grep -o ' FIRED  .* action [0-9a-f]\{32\}$' "$WORK/ex.txt" | awk '{ print $NF }' >"$WORK/ex.ids"
check "explain text: one FIRED line per action, same ids in order" \
    cmp -s "$WORK/plain.ids" "$WORK/ex.ids"
check "explain text: the same per-rule table" \
    diff <(table "$WORK/plain.err") <(table "$WORK/ex-txt.err")

who=$(grep -o '"identity":"[^"]*"' "$WORK/plain.jsonl" | head -1 | cut -d'"' -f4)
"$DET" replay -c "$CONF" --explain-identity "$who" --explain-rule approval-during-burst \
    --explain-rule login-burst "$WORK/big.jsonl" >"$WORK/one.txt" 2>"$WORK/one.err"
check "filtered explain: the same per-rule table" \
    diff <(table "$WORK/plain.err") <(table "$WORK/one.err")
check "filtered explain: only $who's events" \
    test -z "$(grep -v '^ \|^$' "$WORK/one.txt" | grep -v " identity $who\$")"
check "filtered explain: only the two rules" \
    test -z "$(grep '^  [a-z]' "$WORK/one.txt" | grep -v '^  \(login-burst\|approval-during-burst\|resets\|learns\|clears\) ')"
check "filtered explain: $who's events are there" test -s "$WORK/one.txt"
"$DET" replay -c "$CONF" --explain-rule no-such-rule "$WORK/big.jsonl" >/dev/null 2>"$WORK/bad.err"
check "--explain-rule of an unknown rule: exit 2" test $? -eq 2
check "--explain-rule of an unknown rule: says so" grep -q 'no-such-rule: no such rule' "$WORK/bad.err"

# --- the per-rule table against the actions ------------------------------
for rule in $(awk 'NR > 1 && $1 != "total" { print $1 }' <(table "$WORK/plain.err")); do
    acts=$(grep "\"rule\":\"$rule\"" "$WORK/plain.jsonl")
    ids=$(printf '%s\n' "$acts" | grep -o '"identity":"[^"]*"' | sort -u | grep -c .)
    count() { printf '%s\n' "$acts" | grep "\"kind\":\"$1\"" | grep -c "\"mode\":\"$2\""; }
    shadow=$(printf '%s\n' "$acts" | grep -c '"mode":"shadow"')
    got="$(col "$WORK/plain.err" "$rule" 5) $(col "$WORK/plain.err" "$rule" 6) $(col "$WORK/plain.err" "$rule" 7) $(col "$WORK/plain.err" "$rule" 8) $(col "$WORK/plain.err" "$rule" 9)"
    want="$(count alert enforce) $(count block_identity enforce) $(count block_authenticator enforce) $shadow $ids"
    check "table: $rule alert/block_id/block_auth/shadow/identities = $want" test "$got" = "$want"
done
all=$(grep -o '"identity":"[^"]*"' "$WORK/plain.jsonl" | sort -u | grep -c .)
check "table: total identities = $all distinct identities with an action" \
    test "$(awk '$1 == "total" { print $8 }' "$WORK/plain.err")" = "$all"
check "table: the header names the columns" \
    grep -q '^rule  *mode  *evaluated  *hits  *alert  *block_id  *block_auth  *shadow  *identities  *cooldown  *blocked  *breaker$' "$WORK/plain.err"

# --- compare: login-burst at 3 instead of 5 -------------------------------
mkdir -p "$WORK/rules-b"
cp config/rules/*.rules "$WORK/rules-b/"
sed -i '/^rule login-burst$/,/^end$/ s/count(login.started within 10m) >= 5/count(login.started within 10m) >= 3/' \
    "$WORK/rules-b/10-login.rules"
check "compare: the copy differs in login-burst's threshold" \
    grep -q 'count(login.started within 10m) >= 3' "$WORK/rules-b/10-login.rules"

# A hand-made stream: id-three starts 3 logins in 10 minutes (B alerts, A
# does not), id-five starts 5 (both alert), id-one starts 1 (neither).
{
    for i in 1 2 3; do
        printf '{"event_id":"c-3-%d","ts":"2026-11-24T10:0%d:00Z","type":"login.started","identity":"id-three","request_id":"r-%d","ip":"203.0.113.3"}\n' "$i" "$i" "$i"
    done
    for i in 1 2 3 4 5; do
        printf '{"event_id":"c-5-%d","ts":"2026-11-24T11:0%d:00Z","type":"login.started","identity":"id-five","request_id":"r-%d","ip":"203.0.113.5"}\n' "$i" "$i" "$i"
    done
    printf '{"event_id":"c-1-1","ts":"2026-11-24T12:00:00Z","type":"login.started","identity":"id-one","request_id":"r-1","ip":"203.0.113.1"}\n'
} >"$WORK/small.jsonl"
"$DET" replay -c "$CONF" --compare "$WORK/rules-b" "$WORK/small.jsonl" >"$WORK/cmp.out" 2>"$WORK/cmp.err"
check "compare: exit 0" test $? -eq 0
"$DET" replay -c "$CONF" "$WORK/small.jsonl" >"$WORK/small-a.jsonl" 2>/dev/null
check "compare: stdout holds A's actions" cmp -s "$WORK/small-a.jsonl" "$WORK/cmp.out"
check "compare: 1 identity alerted by B only" \
    grep -qx 'alert: 1 identity decided by B and not by A:' "$WORK/cmp.err"
check "compare: it is id-three, by login-burst, at its third login" \
    grep -qx '  id-three  login-burst  2026-11-24T10:03:00Z' "$WORK/cmp.err"
check "compare: none alerted by A only" \
    grep -qx 'alert: 0 identities decided by A and not by B' "$WORK/cmp.err"
check "compare: totals line for alerts (A 1, B 2, both 1, only A 0, only B 1)" \
    grep -Eq '^alert +1 +2 +1 +0 +1$' "$WORK/cmp.err"
check "compare: both per-rule tables" test "$(grep -c '^rule  *mode' "$WORK/cmp.err")" -eq 2

# The same over the large stream, against separate replays of A and B.
"$DET" replay -c "$CONF" --compare "$WORK/rules-b" "$WORK/big.jsonl" >"$WORK/cmp-big.out" 2>"$WORK/cmp-big.err"
"$DET" replay -c "$CONF" --rules "$WORK/rules-b" "$WORK/big.jsonl" >"$WORK/b.jsonl" 2>"$WORK/b.err"
alerted() { grep '"kind":"alert"' "$1" | grep '"mode":"enforce"' | grep -o '"identity":"[^"]*"' | cut -d'"' -f4 | sort -u; }
only_b=$(comm -13 <(alerted "$WORK/plain.jsonl") <(alerted "$WORK/b.jsonl") | grep -c .)
only_a=$(comm -23 <(alerted "$WORK/plain.jsonl") <(alerted "$WORK/b.jsonl") | grep -c .)
check "compare (large): $only_b identities alerted by B only" \
    grep -Eq "^alert: $only_b identit(y|ies) decided by B and not by A" "$WORK/cmp-big.err"
check "compare (large): $only_a alerted by A only" \
    grep -Eq "^alert: $only_a identit(y|ies) decided by A and not by B" "$WORK/cmp-big.err"
check "compare (large): B alerts more identities" test "$only_b" -gt 0
# Every example listed is one of them, with its rule.
sed -n '/^alert: [0-9]* identit.* decided by B and not by A/,/^[a-z]/p' "$WORK/cmp-big.err" |
    grep '^  id-' | awk '{ print $1 }' >"$WORK/examples"
check "compare (large): up to 20 examples listed" test "$(wc -l <"$WORK/examples")" -eq $((only_b < 20 ? only_b : 20))
check "compare (large): the examples are B-only identities" \
    test -z "$(comm -23 <(sort "$WORK/examples") <(comm -13 <(alerted "$WORK/plain.jsonl") <(alerted "$WORK/b.jsonl")))"
check "compare (large): A's table equals a plain replay's" \
    diff <(sed -n '/^A: /,/^total/p' "$WORK/cmp-big.err" | sed 1d) <(table "$WORK/plain.err")
check "compare (large): B's table equals a replay of B" \
    diff <(sed -n '/^B: /,/^total/p' "$WORK/cmp-big.err" | sed 1d) <(table "$WORK/b.err")
check "compare: a missing rule directory fails" \
    test "$("$DET" replay -c "$CONF" --compare "$WORK/none" "$WORK/small.jsonl" >/dev/null 2>&1; echo $?)" -ne 0

# --- the reader: files, chunks, bad lines ---------------------------------
# big.jsonl cut into pieces whose sizes straddle the reader's chunks of 64
# events, with a blank line, CRLF line ends and a bad line in them.
head -n 1 "$WORK/big.jsonl" >"$WORK/p1.jsonl"
sed -n '2,64p' "$WORK/big.jsonl" >"$WORK/p2.jsonl"
{ sed -n '65,100p' "$WORK/big.jsonl"; echo; echo '{"event_id":"bad-1"}'; sed -n '101,129p' "$WORK/big.jsonl"; } >"$WORK/p3.jsonl"
: >"$WORK/p4.jsonl"
sed -n '130,1000p' "$WORK/big.jsonl" | sed 's/$/\r/' >"$WORK/p5.jsonl"
{ echo 'not json'; sed -n '1001,$p' "$WORK/big.jsonl"; } >"$WORK/p6.jsonl"
"$DET" replay -c "$CONF" "$WORK/p1.jsonl" "$WORK/p2.jsonl" "$WORK/p3.jsonl" "$WORK/p4.jsonl" \
    "$WORK/p5.jsonl" - <"$WORK/p6.jsonl" >"$WORK/pieces.jsonl" 2>"$WORK/pieces.err"
check "reader: pieces, stdin, blank lines and CRLF decide what one file does" \
    cmp -s "$WORK/plain.jsonl" "$WORK/pieces.jsonl"
check "reader: the same per-rule table" \
    diff <(table "$WORK/plain.err") <(table "$WORK/pieces.err" | grep -v ": bad event: ")
check "reader: each bad line named by its file and line, in order" \
    diff <(grep ': bad event: ' "$WORK/pieces.err" | cut -d: -f1-2) \
    <(printf '%s\n' "$WORK/p3.jsonl:38" "<stdin>:1")
check "reader: the count of events" \
    grep -q '^replay: 60002 events (60000 valid, 2 bad, 0 unknown type), ' "$WORK/pieces.err"
"$DET" replay -c "$CONF" "$WORK/p5.jsonl" >"$WORK/p5.out" 2>/dev/null
"$DET" replay -c "$CONF" "$WORK/p5.jsonl" "$WORK/missing.jsonl" "$WORK/p6.jsonl" \
    >"$WORK/miss.out" 2>"$WORK/miss.err"
check "reader: a missing file: exit 1" test $? -eq 1
check "reader: a missing file: named" grep -q "missing.jsonl: No such file or directory" "$WORK/miss.err"
check "reader: a missing file: the files before it decided, none after" \
    cmp -s "$WORK/p5.out" "$WORK/miss.out"

# --- progress ---------------------------------------------------------------
DETECTOR_PROGRESS_MS=1 "$DET" replay -c "$CONF" "$WORK/big.jsonl" >/dev/null 2>"$WORK/progress.err"
check "progress: lines 'replay: N events read, R events/s'" \
    grep -Eq '^replay: [0-9]+ events read, [0-9]+ events/s$' "$WORK/progress.err"
"$DET" replay -c "$CONF" "$WORK/small.jsonl" >/dev/null 2>"$WORK/quiet.err"
check "progress: none for a short run" test -z "$(grep 'events read' "$WORK/quiet.err")"

# --- attacker text ----------------------------------------------------------
printf '{"event_id":"h-1","ts":"2026-11-24T10:00:00Z","type":"login.started","identity":"id-h","request_id":"r-1","ip":"203.0.113.8","user_agent":"x\\u001b]0;pwned\\u0007\\u001b[2J\\u009b1m\\u202eHeadless"}\n' >"$WORK/hostile.jsonl"
"$DET" replay -c "$CONF" --explain "$WORK/hostile.jsonl" >"$WORK/hostile.txt" 2>/dev/null
"$DET" replay -c "$CONF" --explain --format json "$WORK/hostile.jsonl" >"$WORK/hostile.json" 2>/dev/null
check "hostile user agent: explained" grep -q 'automation-user-agent  FIRED' "$WORK/hostile.txt"
check "hostile user agent: escaped in text" grep -qF '"x\u001b]0;pwned\u0007\u001b[2J\u009b1m\u202eHeadless"' "$WORK/hostile.txt"
check "hostile user agent: no control bytes in text or JSON" \
    test -z "$(LC_ALL=C grep -P '[\x00-\x08\x0b-\x1f\x7f-\xff]' "$WORK/hostile.txt" "$WORK/hostile.json")"

finish

#!/usr/bin/env bash
# make install and make uninstall, into temporary directories (DESTDIR),
# never into the live system; no servers needed:
#  - PREFIX=/usr: every file where detector(8) says, with sane modes, nothing
#    else, and no DESTDIR path written into any file;
#  - the installed program checks and tests the installed configuration,
#    reading the rules from the installed directory;
#  - the unit names the installed paths and passes systemd-analyze verify
#    (when systemd-analyze is there);
#  - the man page renders without warnings, and lists every command and
#    option of the usage and every directive of `detector config-reference`;
#  - a reinstall keeps an edited configuration (the new one beside it as
#    .new), updates unedited rule files and drops one no longer shipped;
#  - make uninstall removes everything but the edited file;
#  - PREFIX=/opt/detector and the default /usr/local: the paths follow.
BUILD=${1:-build}
. "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1

# make with nothing inherited from an enclosing make or the environment.
mk() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u PREFIX -u DESTDIR -u BINDIR -u SYSCONFDIR \
        -u UNITDIR -u DATADIR -u MANDIR -u PKGDATADIR \
        make --no-print-directory -C "$ROOT" BUILD="$BUILD" "$@" >>"$WORK/make.log" 2>&1 ||
        { log "make $* failed:"; cat "$WORK/make.log" >&2; return 1; }
}

# mode PATH: the permission bits in octal.
mode() { stat -c '%a' "$1"; }

# The regular files under a directory, relative, sorted.
files_under() { (cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort); }

# The man page as plain text: no hyphenation, wide lines, no overstriking.
render() { groff -man -Tutf8 -rHY=0 -rLL=200n -P-cbu "$1" 2>/dev/null; }

D="$WORK/root"
check "make install DESTDIR=... PREFIX=/usr" mk install DESTDIR="$D" PREFIX=/usr

# --- the files ---------------------------------------------------------------
shipped_rules=$(cd config/rules && ls -- *.rules)
{
    echo etc/detector/detector.conf
    for r in $shipped_rules; do echo "etc/detector/rules/$r"; done
    echo usr/bin/detector
    echo usr/lib/systemd/system/detector.service
    echo usr/share/detector/detector.conf
    for r in $shipped_rules; do echo "usr/share/detector/rules/$r"; done
    echo usr/share/man/man8/detector.8
} | LC_ALL=C sort >"$WORK/expected.files"
files_under "$D" >"$WORK/installed.files"
check "exactly the expected files are installed" diff -u "$WORK/expected.files" "$WORK/installed.files"

modes_ok() {
    local f want
    while read -r f; do
        want=644
        [ "$f" = usr/bin/detector ] && want=755
        [ -f "$D/$f" ] && [ "$(mode "$D/$f")" = "$want" ] ||
            { log "  $f: mode $(mode "$D/$f"), want $want"; return 1; }
    done <"$WORK/expected.files"
    while read -r f; do
        [ "$(mode "$f")" = 755 ] || { log "  ${f#"$D"}: mode $(mode "$f"), want 755"; return 1; }
    done < <(find "$D" -mindepth 1 -type d)
}
check "files 0644, the program 0755, directories 0755" modes_ok
check "the program is the one built" cmp -s "$DET" "$D/usr/bin/detector"

same_as_shipped() {
    cmp -s config/detector.conf "$D/etc/detector/detector.conf" &&
        cmp -s config/detector.conf "$D/usr/share/detector/detector.conf" || return 1
    for r in $shipped_rules; do
        cmp -s "config/rules/$r" "$D/etc/detector/rules/$r" &&
            cmp -s "config/rules/$r" "$D/usr/share/detector/rules/$r" || return 1
    done
}
check "the configuration and rules are the shipped ones" same_as_shipped
check "no file names the DESTDIR" bash -c '! grep -rlF "$1" "$2"' _ "$D" "$D"

# --- the installed program on the installed configuration ---------------------
CONF="$D/etc/detector/detector.conf"
"$DET" check -c config/detector.conf >/dev/null 2>"$WORK/src-check.err"
(cd "$WORK" && "$D/usr/bin/detector" check -c "$CONF") >"$WORK/check.out" 2>"$WORK/check.err"
rc=$?
check "installed check -c on the installed configuration: exit 0" test "$rc" -eq 0
check "  ... prints configuration OK" grep -qx 'configuration OK' "$WORK/check.out"
check "  ... found every rule of the pack ($(cat "$WORK/src-check.err"))" \
    diff "$WORK/src-check.err" "$WORK/check.err"
check "installed test -c on the installed configuration passes" \
    bash -c 'cd "$1" && "$2" test -c "$3" >/dev/null 2>&1' _ "$WORK" "$D/usr/bin/detector" "$CONF"
# The rules come from the installed directory: a broken file there is reported there.
printf 'rule broken\n  on no.such.type\nend\n' >"$D/etc/detector/rules/99-broken.rules"
(cd "$WORK" && "$D/usr/bin/detector" check -c "$CONF") >/dev/null 2>"$WORK/broken.err"
rc=$?
check "a bad rule file in the installed rules directory fails check, by its path" \
    bash -c '[ "$1" -eq 1 ] && grep -qF "$2" "$3"' _ "$rc" "$D/etc/detector/rules/99-broken.rules" \
    "$WORK/broken.err"
rm -f "$D/etc/detector/rules/99-broken.rules"

# --- the unit ----------------------------------------------------------------
UNIT="$D/usr/lib/systemd/system/detector.service"
for line in 'Type=notify' 'NotifyAccess=main' 'WatchdogSec=30s' \
    'ExecStart=/usr/bin/detector run -c /etc/detector/detector.conf' \
    'ExecReload=/bin/kill -HUP $MAINPID' 'KillSignal=SIGTERM' 'TimeoutStopSec=15s' \
    'Restart=on-failure' 'DynamicUser=yes' 'ProtectSystem=strict' 'NoNewPrivileges=yes' \
    'CapabilityBoundingSet=' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
    'SystemCallFilter=@system-service' 'After=network-online.target' \
    'Wants=network-online.target'; do
    check "unit: $line" grep -qxF "$line" "$UNIT"
done
check "unit: no MemoryDenyWriteExecute= (the PCRE2 JIT needs W+X memory)" \
    bash -c '! grep -q "^[[:space:]]*MemoryDenyWriteExecute" "$1"' _ "$UNIT"
check "unit: the program and configuration it names are installed" \
    bash -c 'd=$2; set -- $(sed -n "s/^ExecStart=//p" "$1"); [ -x "$d$1" ] && [ -f "$d$4" ]' _ "$UNIT" "$D"
if command -v systemd-analyze >/dev/null 2>&1; then
    # Verified as installed but for the program's path, which only exists in DESTDIR;
    # MANPATH lets it find the installed detector(8) of Documentation=.
    mkdir -p "$WORK/unit"
    sed "s|^ExecStart=/usr/bin/detector |ExecStart=$D/usr/bin/detector |" "$UNIT" \
        >"$WORK/unit/detector.service"
    MANPATH="$D/usr/share/man" systemd-analyze verify "$WORK/unit/detector.service" \
        >"$WORK/verify.out" 2>&1
    rc=$?
    check "systemd-analyze verify: exit 0, nothing to say" \
        bash -c '[ "$1" -eq 0 ] && [ ! -s "$2" ] || { cat "$2" >&2; false; }' _ "$rc" "$WORK/verify.out"
else
    log "skip systemd-analyze verify: systemd-analyze is not installed"
fi

# --- the man page -------------------------------------------------------------
MAN="$D/usr/share/man/man8/detector.8"
check "man: no @PLACEHOLDER@ left" bash -c '! grep -q "@[A-Z]*@" "$1"' _ "$MAN"
groff -man -Tutf8 -ww -z "$MAN" >"$WORK/groff.err" 2>&1
rc=$?
check "man: groff -man renders it without a warning" \
    bash -c '[ "$1" -eq 0 ] && [ ! -s "$2" ] || { cat "$2" >&2; false; }' _ "$rc" "$WORK/groff.err"
if command -v man >/dev/null 2>&1; then
    check "man: man -l renders it" bash -c 'MANWIDTH=80 man -l "$1" 2>&1 >/dev/null | (! grep .) && MANWIDTH=80 man -l "$1" | grep -q "^NAME"' _ "$MAN"
fi
render "$MAN" >"$WORK/man.txt"
for s in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS CONFIGURATION SIGNALS FILES 'EXIT STATUS' \
    EXAMPLES 'SEE ALSO'; do
    check "man: section $s" grep -qx "$s" "$WORK/man.txt"
done
# Every command and option of the usage.
"$DET" run --help >"$WORK/usage.txt"
commands_in_man() {
    local c
    for c in $(sed -n 's/^ *\(usage:\)\{0,1\} *detector \([a-z-]*\).*/\2/p' "$WORK/usage.txt"); do
        grep -q "^ *detector $c\b" "$WORK/man.txt" || { log "  command $c missing"; return 1; }
    done
}
check "man: every command of the usage in SYNOPSIS" commands_in_man
options_in_man() {
    local o
    for o in $(grep -o -- '\(^\|[[ ]\)--\{0,1\}[a-z][a-z-]*' "$WORK/usage.txt" | tr -d '[ ' | sort -u); do
        grep -q -- "^ *$o\([ ,]\|$\)" "$WORK/man.txt" ||
            { log "  option $o has no entry in OPTIONS"; return 1; }
    done
}
check "man: every option of the usage has an entry" options_in_man
# Every directive, with its type and default.
directives_in_man() {
    local key type range def n=0
    while IFS='|' read -r _ key type range def _; do
        key=$(echo "$key" | tr -d '` '); type=$(echo "$type" | tr -d ' ')
        range=$(echo "$range" | tr -d ' '); def=$(echo "$def" | sed 's/^ *`\{0,1\}//; s/`\{0,1\} *$//')
        [ -n "$key" ] || continue
        local want="$key ($type"
        [ -n "$range" ] && want="$want, $range"
        grep -qF -- "$want" "$WORK/man.txt" || { log "  directive $key: no \"$want\""; return 1; }
        if [ -n "$def" ]; then
            grep -F -- "$key ($type" "$WORK/man.txt" | grep -qF -- "default $def)" ||
                { log "  directive $key: default $def missing"; return 1; }
        fi
        n=$((n + 1))
    done < <("$DET" config-reference | grep '^| `')
    [ "$n" -gt 10 ]
}
check "man: every directive of config-reference, with type, range and default" directives_in_man
for code in 0 1 2 3; do
    check "man: exit status $code" bash -c 'sed -n "/^EXIT STATUS/,/^EXAMPLES/p" "$1" | grep -qx " *$2 .*"' \
        _ "$WORK/man.txt" "$code"
done
for p in /usr/bin/detector /etc/detector/detector.conf /etc/detector/rules/ \
    /usr/lib/systemd/system/detector.service /usr/share/detector/; do
    check "man: FILES names $p" bash -c 'sed -n "/^FILES/,/^EXIT STATUS/p" "$1" | grep -qF "$2"' \
        _ "$WORK/man.txt" "$p"
done

# --- reinstall: edited files kept, unedited ones updated ------------------------
echo '# edited here' >>"$CONF"
cp "$CONF" "$WORK/edited.conf"
# An unedited rule file of an older release: live and as-shipped copy alike.
R1=$(echo "$shipped_rules" | head -n 1)
echo '# older release' >>"$D/etc/detector/rules/$R1"
echo '# older release' >>"$D/usr/share/detector/rules/$R1"
# A rule file an older release shipped and this one does not.
cp "config/rules/$R1" "$D/etc/detector/rules/05-dropped.rules"
cp "config/rules/$R1" "$D/usr/share/detector/rules/05-dropped.rules"
check "make install again" mk install DESTDIR="$D" PREFIX=/usr
check "reinstall: the edited configuration is kept" cmp -s "$WORK/edited.conf" "$CONF"
check "reinstall: the new one is beside it as detector.conf.new" cmp -s config/detector.conf "$CONF.new"
check "reinstall: an unedited rule file of an older release is updated" \
    cmp -s "config/rules/$R1" "$D/etc/detector/rules/$R1"
check "reinstall: a rule file no longer shipped is removed" \
    bash -c '[ ! -e "$1/etc/detector/rules/05-dropped.rules" ] && [ ! -e "$1/usr/share/detector/rules/05-dropped.rules" ]' _ "$D"
check "reinstall: the installed configuration still checks" \
    bash -c '"$1" check -c "$2" >/dev/null 2>&1' _ "$D/usr/bin/detector" "$CONF"

# --- uninstall ----------------------------------------------------------------
check "make uninstall" mk uninstall DESTDIR="$D" PREFIX=/usr
check "uninstall: only the edited configuration is left" \
    bash -c '[ "$(cd "$1" && find . -type f)" = ./etc/detector/detector.conf ]' _ "$D"
check "uninstall: the edited configuration is intact" cmp -s "$WORK/edited.conf" "$CONF"
rm -f "$CONF"
check "make uninstall again" mk uninstall DESTDIR="$D" PREFIX=/usr
check "uninstall: no file left, etc/detector and share/detector removed" \
    bash -c '[ -z "$(find "$1" -type f)" ] && [ ! -e "$1/etc/detector" ] && [ ! -e "$1/usr/share/detector" ]' _ "$D"

# --- other prefixes -------------------------------------------------------------
# prefix_case NAME DESTDIR BINDIR CONFDIR UNITDIR MANDIR [make variables]
prefix_case() {
    local name=$1 d=$2 bin=$3 conf=$4 unit=$5 man=$6
    shift 6
    check "$name: make install" mk install DESTDIR="$d" "$@"
    check "$name: the unit runs $bin/detector -c $conf/detector.conf" \
        grep -qxF "ExecStart=$bin/detector run -c $conf/detector.conf" "$d$unit/detector.service"
    check "$name: the installed program checks the installed configuration" \
        bash -c '"$1" check -c "$2" >/dev/null 2>&1' _ "$d$bin/detector" "$d$conf/detector.conf"
    render "$d$man/man8/detector.8" >"$WORK/man-$name.txt"
    check "$name: the man page names the paths" \
        bash -c 'grep -qF "$2/detector.conf" "$1" && grep -qF "$3/detector.service" "$1" && grep -qF "$4/detector" "$1"' \
        _ "$WORK/man-$name.txt" "$conf" "$unit" "$bin"
    check "$name: no file names the DESTDIR" bash -c '! grep -rlF "$1" "$1"' _ "$d"
    check "$name: make uninstall" mk uninstall DESTDIR="$d" "$@"
    check "$name: no file left" bash -c '[ -z "$(find "$1" -type f)" ]' _ "$d"
}
prefix_case opt "$WORK/opt" /opt/detector/bin /opt/detector/etc/detector \
    /opt/detector/lib/systemd/system /opt/detector/share/man PREFIX=/opt/detector
prefix_case default "$WORK/default" /usr/local/bin /usr/local/etc/detector \
    /usr/local/lib/systemd/system /usr/local/share/man

finish

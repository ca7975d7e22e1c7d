#!/bin/sh
# man.sh - writes detector(8) on standard output.
#
#   sh doc/man.sh DETECTOR TEMPLATE BINDIR SYSCONFDIR UNITDIR PKGDATADIR
#
# TEMPLATE (doc/detector.8.in) with @BINDIR@, @SYSCONFDIR@, @UNITDIR@ and
# @PKGDATADIR@ replaced by the paths, its leading comment dropped, and its
# line @CONFIGURATION@ replaced by one .TP entry per row of
# `DETECTOR config-reference` (key, type, range, default, meaning): the page
# lists exactly the directives the binary accepts.
set -eu
[ $# -eq 6 ] || { echo "usage: $0 DETECTOR TEMPLATE BINDIR SYSCONFDIR UNITDIR PKGDATADIR" >&2; exit 2; }
det=$1 template=$2
ref=$("$det" config-reference) || { echo "$0: $det config-reference failed" >&2; exit 1; }
printf '%s\n' "$ref" | awk -v bindir="$3" -v sysconfdir="$4" -v unitdir="$5" -v pkgdatadir="$6" -v template="$template" '
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
# Text for roff: backslashes escaped, `code` in bold.
function roff(s,    out, i) {
    gsub(/\\/, "\\e", s)
    out = ""
    while ((i = index(s, "`")) > 0) {
        out = out substr(s, 1, i - 1)
        s = substr(s, i + 1)
        if ((i = index(s, "`")) == 0) { out = out "`"; break }
        out = out "\\fB\\%" substr(s, 1, i - 1) "\\fR"
        s = substr(s, i + 1)
    }
    return out s
}
# Every occurrence of from in s replaced by to, taken literally.
function replace(s, from, to,    out, i) {
    out = ""
    while ((i = index(s, from)) > 0) {
        out = out substr(s, 1, i - 1) to
        s = substr(s, i + length(from))
    }
    return out s
}
# The rows of the Markdown table, header and separator skipped.
/^\| `/ {
    line = $0
    sub(/^\| /, "", line); sub(/ \|[ \t]*$/, "", line)
    n = split(line, f, "|")
    if (n < 5) { print "man.sh: bad config-reference row: " $0 > "/dev/stderr"; bad = 1; next }
    key = trim(f[1]); type = trim(f[2]); range = trim(f[3]); def = trim(f[4])
    meaning = f[5]
    for (i = 6; i <= n; i++) meaning = meaning "|" f[i]
    meaning = trim(meaning)
    gsub(/`/, "", key)
    what = type
    if (range != "") what = what ", " range
    if (def == "``") what = what ", default empty"
    else if (def != "") { gsub(/^`|`$/, "", def); what = what ", default \\fB\\%" roff(def) "\\fR" }
    entries = entries ".TP\n\\fB\\%" roff(key) "\\fR (" what ")\n\\&" roff(meaning) "\n"
    rows++
}
END {
    if (bad || rows == 0) { print "man.sh: no directives from config-reference" > "/dev/stderr"; exit 1 }
    found = 0; header = 1
    print ".\\\" detector(8), made by doc/man.sh from doc/detector.8.in and `detector config-reference`."
    while ((getline t < template) > 0) {
        if (header && t ~ /^\.\\"/) continue  # the comment of the template
        header = 0
        if (t == "@CONFIGURATION@") { printf "%s", entries; found = 1; continue }
        t = replace(t, "@BINDIR@", bindir)
        t = replace(t, "@SYSCONFDIR@", sysconfdir)
        t = replace(t, "@UNITDIR@", unitdir)
        t = replace(t, "@PKGDATADIR@", pkgdatadir)
        print t
    }
    if (!found) { print "man.sh: " template " has no @CONFIGURATION@ line" > "/dev/stderr"; exit 1 }
}'

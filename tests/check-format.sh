#!/bin/sh
# The code follows the committed .clang-format (skipped when clang-format is
# not installed).
if ! command -v clang-format >/dev/null 2>&1; then
    echo "format: clang-format not installed, skipped"
    exit 0
fi
bad=0
for f in include/*.h detector/*.c detector/*.h rules/*.c rules/*.h tests/unit/*.c \
         tests/tools/*.c tests/support/*.c tests/support/*.h; do
    [ -f "$f" ] || continue
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "format: $f differs from .clang-format (run: make format)"
        bad=$((bad + 1))
    fi
done
echo "format: $([ $bad -eq 0 ] && echo 1 || echo 0) passed, $([ $bad -eq 0 ] && echo 0 || echo 1) failed"
[ $bad -eq 0 ]

/* fuzz_event.c - libFuzzer target: the event parser (detector/event.c).
 *
 * The input is one Kafka message value: event_parse() reads exactly its
 * bytes (not NUL-terminated, so a read past the end is caught by
 * AddressSanitizer). A bad event's reason must be one line; a valid
 * event's strings must be as long as the parser says, and its time, written
 * as actions and explanations write it, must read back the same; then
 * event_clear() releases it. The input is also read as a timestamp by
 * itself (event_ts_parse), with the same check.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Traps unless the time us, written as actions and explanations write it,
 * reads back the same. text is what it was read from. */
static void check_ts(int64_t us, const char *text, size_t len)
{
    char ts[32];
    int64_t back;
    event_ts_format(us, ts, sizeof ts);
    if (event_ts_parse(ts, strlen(ts), &back) != 0 || back != us) {
        fprintf(stderr, "ts %.*s is written as %s, which does not read back\n", (int)len, text, ts);
        __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    event_t ev;
    char err[512];
    int64_t us;

    /* The input as a timestamp by itself: short inputs reach its edges. */
    if (event_ts_parse((const char *)data, size, &us) == 0) check_ts(us, (const char *)data, size);

    event_status_t st = event_parse((const char *)data, size, &ev, err, sizeof err);
    if (st == EVENT_BAD) {
        /* The reason is one NUL-terminated line. */
        if (strlen(err) >= sizeof err || strchr(err, '\n')) __builtin_trap();
        return 0;
    }
    for (int f = 0; f < FIELD_COUNT; f++)
        if (ev.str[f] && strlen(ev.str[f]) < ev.len[f]) __builtin_trap();
    check_ts(ev.ts_us, ev.str[FIELD_TS], ev.len[FIELD_TS]);
    event_clear(&ev);
    return 0;
}

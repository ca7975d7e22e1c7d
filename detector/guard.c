/* guard.c - noticing that Redis lost the state (the state marker).
 *
 * The daemon reads the marker "P{detector}:marker" (store_marker_get) when
 * it starts, after every reconnect, and once a second. Absent at the start:
 * a new store (or one emptied while no daemon ran, which cannot be told
 * apart), so the marker is written and the daemon goes on, with a warning
 * when the store is not empty of other keys either. Absent after it was
 * seen: Redis lost its data (restarted without persistence, flushed, failed
 * over to an empty replica). That is logged as an error and counted, then:
 *   redis.on_state_loss = continue  the marker is written again and the
 *                                   daemon goes on from the empty state;
 *   redis.on_state_loss = pause     consumption stops until the marker is
 *                                   back: restored with a backup of Redis,
 *                                   or written by an operator who accepts
 *                                   the loss (README, Operations).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "log.h"

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int write_marker(store_t *st, char *err, size_t errlen)
{
    char host[128] = "detector";
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "detector");
    host[sizeof host - 1] = '\0';
    char by[192];
    snprintf(by, sizeof by, "%s pid %ld", host, (long)getpid());
    return store_marker_set(st, wall_us(), by, err, errlen);
}

int guard_check(guard_t *g, store_t *st, char *err, size_t errlen)
{
    int found = 0;
    char since[40] = "";
    if (store_marker_get(st, &found, since, sizeof since, err, errlen) < 0) return -1;
    if (found) {
        if (g->paused) log_info("state marker is back (state since %s); resuming", since);
        if (!g->seen) log_info("state store in use since %s", since);
        g->seen = 1;
        g->paused = 0;
        return 0;
    }
    if (g->paused) return 0; /* still waiting for an operator or a restore */
    if (!g->seen) {
        log_info("state store has no state marker: a new store; writing it");
        if (write_marker(st, err, errlen) < 0) return -1;
        g->seen = 1;
        return 0;
    }
    g->lost++;
    if (g->pause_on_loss) {
        log_errorx("STATE LOST: Redis no longer holds the state marker (restarted without its "
                   "data, flushed, or failed over); redis.on_state_loss = pause: consumption "
                   "stops until the marker is restored (see README, Operations)");
        g->paused = 1;
        return 0;
    }
    log_errorx("STATE LOST: Redis no longer holds the state marker (restarted without its data, "
               "flushed, or failed over); redis.on_state_loss = continue: going on from an "
               "empty state (counts, known sets, cooldowns and blocks are gone)");
    return write_marker(st, err, errlen);
}

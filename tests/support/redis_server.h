/* redis_server.h - a throwaway redis-server for tests.
 *
 * test_redis_start() runs `redis-server` (from PATH) on a free loopback
 * port, without persistence, in a fresh temporary directory (its log is
 * redis.log there), and returns once it answers PING. test_redis_stop()
 * terminates it and removes the directory. Servers still running when the
 * test program exits are stopped by an atexit handler, and on Linux a server
 * also dies with the test program (PR_SET_PDEATHSIG), so a failing or
 * crashing test leaves nothing behind.
 */
#ifndef TESTS_SUPPORT_REDIS_SERVER_H
#define TESTS_SUPPORT_REDIS_SERVER_H

#include <sys/types.h>

typedef struct test_redis {
    pid_t pid; /* 0 when not running */
    int port;
    char dir[256];
} test_redis_t;

/* Starts a server on a free port and fills r. 0, or -1 (a message on
 * stderr). */
int test_redis_start(test_redis_t *r);
/* Starts a server on the given port (to restart one where it was). */
int test_redis_start_port(test_redis_t *r, int port);
/* Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its
 * directory. Safe on a stopped or zeroed r. */
void test_redis_stop(test_redis_t *r);

#endif

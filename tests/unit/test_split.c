/* test_split.c - the helper thread that divides work by index
 * (detector/split.c): every index runs exactly once per job, on both
 * threads, and nothing of a job runs after split_run returns, job after
 * job (a helper that wakes late must not run an old job's function on the
 * next job's indices).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "split.h"

#define MAXN 600

struct job {
    atomic_int count[MAXN];
    atomic_int returned; /* split_run has returned */
    atomic_int late;     /* calls after that */
    atomic_int helper;   /* calls on the helper thread */
    pthread_t caller;
};

static void count_one(void *arg, size_t i)
{
    struct job *j = arg;

    if (atomic_load(&j->returned)) atomic_fetch_add(&j->late, 1);
    if (!pthread_equal(pthread_self(), j->caller)) atomic_fetch_add(&j->helper, 1);
    /* a little work, so that both threads get indices */
    volatile unsigned x = 0;
    for (unsigned k = 0; k < 2000; k++)
        x += k;
    atomic_fetch_add(&j->count[i], 1);
}

static void test_every_index_once(void **state)
{
    (void)state;
    split_t *s = split_new();
    static struct job jobs[2]; /* alternated: a late call would land in the other */
    long helper = 0;

    assert_non_null(s);
    for (int round = 0; round < 3000; round++) {
        struct job *j = &jobs[round % 2];
        size_t n = (size_t)(round * 7919) % MAXN;

        memset(j, 0, sizeof *j);
        j->caller = pthread_self();
        split_run(s, count_one, j, n);
        atomic_store(&j->returned, 1);
        for (size_t i = 0; i < MAXN; i++)
            assert_int_equal(atomic_load(&j->count[i]), i < n ? 1 : 0);
        helper += atomic_load(&j->helper);
        assert_int_equal(atomic_load(&jobs[(round + 1) % 2].late), 0);
    }
    split_free(s);
    for (int k = 0; k < 2; k++)
        assert_int_equal(atomic_load(&jobs[k].late), 0);
    assert_true(helper > 0); /* the helper did take part */
}

/* Without a helper (it could not start), the caller does it all. */
static void test_no_helper(void **state)
{
    (void)state;
    static struct job j;

    memset(&j, 0, sizeof j);
    j.caller = pthread_self();
    split_run(NULL, count_one, &j, 100);
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(atomic_load(&j.count[i]), 1);
    assert_int_equal(atomic_load(&j.helper), 0);
    split_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_index_once),
        cmocka_unit_test(test_no_helper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

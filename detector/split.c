/* split.c - a helper thread for work that divides by index (split.h).
 *
 * One job at a time. split_run publishes the job under the mutex and wakes
 * the helper; both threads then claim indices, a few at a time, from one
 * atomic word holding the job's number (high bits) and the next index (low
 * bits), so a helper that wakes late, after the job is over, claims
 * nothing of the next one with the old job's function. The caller works
 * until no index is left and then waits only for the indices the helper
 * claimed and is still running: a helper that did not wake in time costs
 * nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "split.h"

/* Below this many indices the caller works alone. */
#define SPLIT_MIN 16
/* Indices claimed at a time. */
#define SPLIT_STEP 4
#define IDX_BITS 40
#define IDX_MASK ((UINT64_C(1) << IDX_BITS) - 1)

struct split {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* the job, under mu */
    void (*fn)(void *arg, size_t i);
    void *arg;
    size_t n;
    uint64_t seq; /* jobs published */
    int stop;
    _Atomic uint64_t next;  /* job number << IDX_BITS | the next index */
    atomic_size_t finished; /* indices of the job whose call returned */
};

/* Claims and runs indices of job `job` until none is left; as the caller
 * or as the helper. */
static void work(struct split *s, uint64_t job, void (*fn)(void *, size_t), void *arg, size_t n)
{
    uint64_t tag = (job << IDX_BITS) & ~IDX_MASK;

    for (;;) {
        uint64_t v = atomic_load(&s->next);
        size_t i = (size_t)(v & IDX_MASK);

        if ((v & ~IDX_MASK) != tag || i >= n) return;
        if (!atomic_compare_exchange_weak(&s->next, &v, v + SPLIT_STEP)) continue;
        size_t end = i + SPLIT_STEP < n ? i + SPLIT_STEP : n, k = end - i;
        for (; i < end; i++)
            fn(arg, i);
        if (atomic_fetch_add(&s->finished, k) + k == n) {
            pthread_mutex_lock(&s->mu);
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
        }
    }
}

static void *helper_main(void *p)
{
    struct split *s = p;
    uint64_t seen = 0;

    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stop && s->seq == seen)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stop) break;
        seen = s->seq;
        void (*fn)(void *, size_t) = s->fn;
        void *arg = s->arg;
        size_t n = s->n;
        pthread_mutex_unlock(&s->mu);
        work(s, seen, fn, arg, n);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

split_t *split_new(void)
{
    struct split *s = calloc(1, sizeof *s);
    sigset_t all, old;
    int e;

    if (s == NULL) return NULL;
    atomic_init(&s->next, 0);
    atomic_init(&s->finished, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    /* signals are for the caller's thread */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    e = pthread_create(&s->th, NULL, helper_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
        errno = e;
        return NULL;
    }
    return s;
}

void split_free(split_t *s)
{
    if (s == NULL) return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void split_run(split_t *s, void (*fn)(void *arg, size_t i), void *arg, size_t n)
{
    if (s == NULL || n < SPLIT_MIN || n > IDX_MASK / 2) {
        for (size_t i = 0; i < n; i++)
            fn(arg, i);
        return;
    }
    pthread_mutex_lock(&s->mu);
    uint64_t job = ++s->seq;
    s->fn = fn;
    s->arg = arg;
    s->n = n;
    atomic_store(&s->finished, 0);
    atomic_store(&s->next, (job << IDX_BITS) & ~IDX_MASK);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    work(s, job, fn, arg, n);
    if (atomic_load(&s->finished) != n) { /* the helper is still in its last indices */
        pthread_mutex_lock(&s->mu);
        while (atomic_load(&s->finished) != n)
            pthread_cond_wait(&s->cv, &s->mu);
        pthread_mutex_unlock(&s->mu);
    }
}

/* gen_events.c - a realistic, deterministic stream of authentication events.
 *
 *   gen_events [--events N] [--identities M] [--seed S] [--start RFC3339]
 *              [--days D] [--attacks PERCENT] [--no-proxy] [--keyed]
 *
 * Ordinary people log in (started, approved, now and then failed or
 * rejected), change their user ID from their own browser, add an
 * authenticator. Sprinkled in: MFA fatigue (a burst of login requests, then
 * an approval), user-ID takeover from a new device, logins started abroad
 * and approved at home, authenticator bursts, reported requests, automation
 * user agents, and (unless --no-proxy) a phishing proxy starting logins for
 * many identities from one address. Output: JSON Lines in event time order
 * on stdout. The same arguments give the same bytes. --keyed puts each line's
 * identity and a tab before it, for `kafka_tool produce --keyed` (make bench:
 * the producer then parses nothing, on the cores the daemon shares).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

typedef struct gev {
    int64_t ts;
    uint32_t seq;
    char *json; /* without event_id: filled when printed */
} gev_t;

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int pct(int p)
{
    return (int)(rnd() % 100) < p;
}

static gev_t *evs;
static size_t nevs, capevs;
static uint32_t seqno;

static void emit(int64_t ts, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(int64_t ts, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (nevs == capevs) {
        capevs = capevs ? capevs * 2 : 1024;
        evs = realloc(evs, capevs * sizeof *evs);
        if (!evs) exit(1);
    }
    evs[nevs].ts = ts;
    evs[nevs].seq = seqno++;
    evs[nevs].json = strdup(buf);
    nevs++;
}

static int cmp_ev(const void *a, const void *b)
{
    const gev_t *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static const char *uas[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Version/17.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
};
static const char *sps[] = {"bank.example", "tax.example", "health.example", "pension.example"};
static const char *bad_countries[] = {"NG", "RU", "BR", "VN", "US"};

#define TS(x) event_ts_format((x), tsb, sizeof tsb)

/* A person's ordinary login: started in their browser, approved on their phone. */
static void login(int id, int64_t t, int req, const char *ip, const char *dev, int ua)
{
    char tsb[40];
    emit(t,
         "\"ts\":\"%s\",\"type\":\"login.started\",\"identity\":\"id-%05x\",\"request_id\":\"r-%"
         "05x-%d\","
         "\"ip\":\"%s\",\"country\":\"DK\",\"device_id\":\"%s\",\"user_agent\":\"%s\","
         "\"service_provider\":\"%s\"",
         TS(t), id, id, req, ip, dev, uas[ua], sps[req % 4]);
    int64_t t2 = t + 5000000 + (int64_t)(rnd() % 40000000);
    int r = (int)(rnd() % 100);
    if (r < 90)
        emit(t2,
             "\"ts\":\"%s\",\"type\":\"login.approved\",\"identity\":\"id-%05x\",\"request_id\":"
             "\"r-%05x-%d\",\"authenticator_id\":\"app-%05x\",\"ip\":\"10.%d.%d.%d\",\"country\":"
             "\"DK\"",
             TS(t2), id, id, req, id, (id >> 16) & 255, (id >> 8) & 255, id & 255);
    else if (r < 96)
        emit(t2,
             "\"ts\":\"%s\",\"type\":\"login.failed\",\"identity\":\"id-%05x\",\"request_id\":"
             "\"r-%05x-%d\",\"reason\":\"timeout\"",
             TS(t2), id, id, req);
    else
        emit(t2,
             "\"ts\":\"%s\",\"type\":\"login.rejected\",\"identity\":\"id-%05x\",\"request_id\":"
             "\"r-%05x-%d\",\"authenticator_id\":\"app-%05x\",\"reported\":false",
             TS(t2), id, id, req, id);
}

int main(int argc, char **argv)
{
    long nevents = 10000, nident = 1000, attacks = 2, days = 7;
    int proxy = 1, keyed = 0;
    int64_t start = 0;
    event_ts_parse("2026-11-01T00:00:00Z", 20, &start);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
            nevents = atol(argv[++i]);
        else if (strcmp(argv[i], "--identities") == 0 && i + 1 < argc)
            nident = atol(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            rng_state ^= (uint64_t)atoll(argv[++i]) * 0x9E3779B97F4A7C15ULL;
        else if (strcmp(argv[i], "--days") == 0 && i + 1 < argc)
            days = atol(argv[++i]);
        else if (strcmp(argv[i], "--attacks") == 0 && i + 1 < argc)
            attacks = atol(argv[++i]);
        else if (strcmp(argv[i], "--start") == 0 && i + 1 < argc) {
            if (event_ts_parse(argv[i + 1], strlen(argv[i + 1]), &start) < 0) {
                fprintf(stderr, "gen_events: bad --start\n");
                return 2;
            }
            i++;
        } else if (strcmp(argv[i], "--no-proxy") == 0)
            proxy = 0;
        else if (strcmp(argv[i], "--keyed") == 0)
            keyed = 1;
        else {
            fprintf(stderr, "usage: gen_events [--events N] [--identities M] [--seed S] "
                            "[--start TS] [--days D] [--attacks PERCENT] [--no-proxy] [--keyed]\n");
            return 2;
        }
    }
    if (nident < 1 || nevents < 1 || days < 1) return 2;
    int64_t span = days * 86400000000LL;
    char tsb[40];
    int req = 0;
    /* Scenarios until the stream is long enough; each adds a few events. */
    while ((long)nevs < nevents) {
        int id = (int)(rnd() % (uint64_t)nident);
        int64_t t = start + (int64_t)(rnd() % (uint64_t)span);
        char ip[32], dev[32];
        snprintf(ip, sizeof ip, "192.0.%d.%d", (id >> 8) & 255, id & 255);
        snprintf(dev, sizeof dev, "br-%05x", id);
        req++;
        if (!pct((int)attacks)) {
            int r = (int)(rnd() % 100);
            if (r < 90) {
                login(id, t, req, ip, dev, id % 4);
            } else if (r < 94) {
                emit(t,
                     "\"ts\":\"%s\",\"type\":\"userid.changed\",\"identity\":\"id-%05x\","
                     "\"old_user_id\":\"u%05x-%d\",\"new_user_id\":\"u%05x-%d\",\"ip\":\"%s\","
                     "\"device_id\":\"%s\",\"channel\":\"%s\"",
                     TS(t), id, id, req, id, req + 1, ip, dev,
                     pct(50) ? "support" : "citizen_service");
            } else if (r < 97) {
                emit(t,
                     "\"ts\":\"%s\",\"type\":\"authenticator.activated\",\"identity\":\"id-%05x\","
                     "\"authenticator_id\":\"app-%05x-%d\",\"authenticator_type\":\"app\","
                     "\"channel\":\"app\"",
                     TS(t), id, id, req);
            } else {
                emit(t,
                     "\"ts\":\"%s\",\"type\":\"identity.unblocked\",\"identity\":\"id-%05x\","
                     "\"channel\":\"app\"",
                     TS(t), id);
            }
            continue;
        }
        int kind = (int)(rnd() % (proxy ? 7 : 6));
        char aip[32];
        snprintf(aip, sizeof aip, "203.0.%d.%d", (int)(rnd() % 255), (int)(rnd() % 255));
        switch (kind) {
        case 0: { /* MFA fatigue: a burst of requests, then the tired approval */
            int n = 4 + (int)(rnd() % 6);
            int64_t tt = t;
            for (int k = 0; k < n; k++, tt += 20000000 + (int64_t)(rnd() % 40000000))
                emit(tt,
                     "\"ts\":\"%s\",\"type\":\"login.started\",\"identity\":\"id-%05x\","
                     "\"request_id\":\"m-%05x-%d-%d\",\"ip\":\"%s\",\"country\":\"%s\","
                     "\"device_id\":\"ax-%d\",\"user_agent\":\"%s\"",
                     TS(tt), id, id, req, k, aip, bad_countries[req % 5], req, uas[0]);
            if (pct(60))
                emit(tt,
                     "\"ts\":\"%s\",\"type\":\"login.approved\",\"identity\":\"id-%05x\","
                     "\"request_id\":\"m-%05x-%d-%d\",\"authenticator_id\":\"app-%05x\","
                     "\"ip\":\"10.1.%d.%d\",\"country\":\"DK\"",
                     TS(tt), id, id, req, n - 1, id, (id >> 8) & 255, id & 255);
            break;
        }
        case 1: /* user-ID takeover from a new device */
            emit(t,
                 "\"ts\":\"%s\",\"type\":\"userid.changed\",\"identity\":\"id-%05x\","
                 "\"old_user_id\":\"u%05x\",\"new_user_id\":\"x%d\",\"ip\":\"%s\","
                 "\"device_id\":\"ax-%d\",\"channel\":\"self_service\"",
                 TS(t), id, id, req, aip, req);
            break;
        case 2: /* started abroad, approved at home */
            emit(t,
                 "\"ts\":\"%s\",\"type\":\"login.started\",\"identity\":\"id-%05x\","
                 "\"request_id\":\"f-%05x-%d\",\"ip\":\"%s\",\"country\":\"%s\","
                 "\"device_id\":\"ax-%d\",\"user_agent\":\"%s\"",
                 TS(t), id, id, req, aip, bad_countries[req % 5], req, uas[1]);
            emit(t + 30000000,
                 "\"ts\":\"%s\",\"type\":\"login.approved\",\"identity\":\"id-%05x\","
                 "\"request_id\":\"f-%05x-%d\",\"authenticator_id\":\"app-%05x\","
                 "\"ip\":\"10.2.%d.%d\",\"country\":\"DK\"",
                 TS(t + 30000000), id, id, req, id, (id >> 8) & 255, id & 255);
            break;
        case 3: /* authenticator burst */
            for (int k = 0; k < 3; k++)
                emit(t + k * 3600000000LL,
                     "\"ts\":\"%s\",\"type\":\"authenticator.activated\",\"identity\":\"id-%05x\","
                     "\"authenticator_id\":\"new-%05x-%d-%d\",\"authenticator_type\":\"%s\"",
                     TS(t + k * 3600000000LL), id, id, req, k, k == 1 ? "code_display" : "app");
            break;
        case 4: /* a request the person reported */
            emit(t,
                 "\"ts\":\"%s\",\"type\":\"login.rejected\",\"identity\":\"id-%05x\","
                 "\"request_id\":\"p-%05x-%d\",\"authenticator_id\":\"app-%05x\",\"reported\":true",
                 TS(t), id, id, req, id);
            break;
        case 5: /* an automated tool */
            emit(t,
                 "\"ts\":\"%s\",\"type\":\"login.started\",\"identity\":\"id-%05x\","
                 "\"request_id\":\"h-%05x-%d\",\"ip\":\"%s\",\"country\":\"DK\","
                 "\"user_agent\":\"python-requests/2.31\"",
                 TS(t), id, id, req, aip);
            break;
        case 6: /* a phishing proxy: many identities from one address */
            for (int k = 0; k < 25; k++) {
                int v = (int)(rnd() % (uint64_t)nident);
                int64_t tt = t + k * 15000000LL;
                emit(tt,
                     "\"ts\":\"%s\",\"type\":\"login.started\",\"identity\":\"id-%05x\","
                     "\"request_id\":\"x-%05x-%d-%d\",\"ip\":\"%s\",\"country\":\"DK\","
                     "\"user_agent\":\"%s\"",
                     TS(tt), v, v, req, k, aip, uas[2]);
            }
            break;
        }
    }
    qsort(evs, nevs, sizeof *evs, cmp_ev);
    for (size_t i = 0; i < nevs && (long)i < nevents; i++) {
        if (keyed) { /* every event has an identity, written "identity":"id-..." */
            const char *id = strstr(evs[i].json, "\"identity\":\"") + 12;
            printf("%.*s\t", (int)strcspn(id, "\""), id);
        }
        printf("{\"event_id\":\"ev-%08zu\",%s}\n", i + 1, evs[i].json);
        free(evs[i].json);
    }
    for (size_t i = (size_t)nevents; i < nevs; i++)
        free(evs[i].json);
    free(evs);
    return 0;
}

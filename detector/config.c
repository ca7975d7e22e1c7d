/* config.c - the configuration file: one table of directives. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

typedef enum { C_STR, C_INT, C_MS, C_ENUM, C_ADDR } ctype_t; /* C_ADDR: HOST:PORT or empty */

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const state_loss_values[] = {"continue", "pause", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const regex_on_limit_values[] = {"match", "nomatch", NULL};

/* Every directive: name, type, minimum, maximum (C_INT, C_MS), the allowed
 * values (C_ENUM), default, help. */
static const struct directive {
    const char *name;
    ctype_t type;
    size_t off;
    long min, max;
    const char *def;
    const char *help;
    const char *const *values;
} directives[] = {
    {"rules.dir", C_STR, offsetof(config_t, rules_dir), 0, 0, "rules",
     "directory of *.rules files, relative to this file", NULL},
    {"topic.events", C_STR, offsetof(config_t, topic_events), 0, 0, "auth.events",
     "topic the events are read from", NULL},
    {"topic.actions", C_STR, offsetof(config_t, topic_actions), 0, 0, "auth.actions",
     "topic the actions are published to", NULL},
    {"topic.dlq", C_STR, offsetof(config_t, topic_dlq), 0, 0, "auth.events.dlq",
     "dead-letter topic for bad events", NULL},
    {"group.id", C_STR, offsetof(config_t, group_id), 0, 0, "detector",
     "Kafka consumer group of the daemons", NULL},
    {"redis.host", C_STR, offsetof(config_t, redis_host), 0, 0, "127.0.0.1", "Redis host", NULL},
    {"redis.port", C_INT, offsetof(config_t, redis_port), 1, 65535, "6379", "Redis port", NULL},
    {"redis.user", C_STR, offsetof(config_t, redis_user), 0, 0, "",
     "Redis ACL user (empty: the default user; needs redis.password)", NULL},
    {"redis.password", C_STR, offsetof(config_t, redis_password), 0, 0, "",
     "Redis AUTH password (empty: none)", NULL},
    {"redis.db", C_INT, offsetof(config_t, redis_db), 0, 15, "0", "Redis database number", NULL},
    {"redis.prefix", C_STR, offsetof(config_t, redis_prefix), 0, 0,
     "sad:", "prefix of every Redis key", NULL},
    {"redis.timeout", C_MS, offsetof(config_t, redis_timeout_ms), 10, 60000, "2s",
     "bound of every Redis call", NULL},
    {"redis.on_state_loss", C_ENUM, offsetof(config_t, redis_on_state_loss), 0, 0, "continue",
     "when Redis comes back without its data: continue (from empty state) or pause (until the "
     "state marker is back)",
     state_loss_values},
    {"activity.max", C_INT, offsetof(config_t, activity_max), 1, 10000, "100",
     "entries kept in a person's activity list", NULL},
    {"batch.size", C_INT, offsetof(config_t, batch_size), 1, 100000, "500",
     "events handled per batch at most", NULL},
    {"batch.time", C_MS, offsetof(config_t, batch_time_ms), 1, 10000, "10ms",
     "longest a batch keeps filling while events keep arriving", NULL},
    {"retry.max", C_MS, offsetof(config_t, retry_max_ms), 100, 600000, "5s",
     "longest pause between retries while Redis or Kafka is down", NULL},
    {"log.level", C_ENUM, offsetof(config_t, log_level), 0, 0, "info", "debug, info, warn or error",
     log_levels},
    {"log.format", C_ENUM, offsetof(config_t, log_format), 0, 0, "text",
     "text, or json (one object per line: ts, level, msg)", log_formats},
    {"stats.file", C_STR, offsetof(config_t, stats_file), 0, 0, "",
     "file the per-rule statistics are written to (empty: none)", NULL},
    {"stats.interval", C_MS, offsetof(config_t, stats_interval_ms), 100, 3600000, "10s",
     "how often the statistics file is rewritten", NULL},
    {"metrics.listen", C_ADDR, offsetof(config_t, metrics_listen), 0, 0, "127.0.0.1:9108",
     "HOST:PORT of the HTTP endpoints /metrics, /healthz, /readyz (empty: none)", NULL},
    {"regex.on_limit", C_ENUM, offsetof(config_t, regex_on_limit), 0, 0, "match",
     "a `matches` stopped by its match or depth limit holds (match) or not (nomatch); "
     "counted and logged either way",
     regex_on_limit_values},
};
#define NDIRECTIVES (sizeof directives / sizeof directives[0])

/* A duration "N", "Nms", "Ns" or "Nm" (N in seconds when bare) into *ms.
 * 0; -1 when it is no duration; -2 when it is one but below zero or beyond
 * what a long holds in milliseconds (out of every range). */
static int parse_ms(const char *s, long *ms)
{
    char *end;
    long unit;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (end == s) return -1;
    if (strcmp(end, "ms") == 0)
        unit = 1;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        unit = 1000;
    else if (strcmp(end, "m") == 0)
        unit = 60000;
    else
        return -1;
    if (errno == ERANGE || n < 0 || n > LONG_MAX / unit) return -2;
    *ms = n * unit;
    return 0;
}

/* "a, b or c" of a NULL-terminated list, into buf. */
static void list_or(const char *const *v, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; v[i] && o < len; i++) {
        const char *sep = i == 0 ? "" : v[i + 1] ? ", " : " or ";
        int n = snprintf(buf + o, len - o, "%s%s", sep, v[i]);
        if (n < 0) return;
        o += (size_t)n;
    }
}

/* "HOST:PORT" or "[IPV6]:PORT" with a port of 1-65535 (or empty: none). */
static int addr_ok(const char *v)
{
    const char *colon = v[0] == '[' ? strstr(v, "]:") : strrchr(v, ':');
    if (!*v) return 1;
    if (!colon || colon == v || (v[0] == '[' && colon == v + 1)) return 0;
    colon += v[0] == '[' ? 2 : 1;
    char *end;
    long port = strtol(colon, &end, 10);
    return isdigit((unsigned char)*colon) && !*end && port >= 1 && port <= 65535;
}

static int set_value(config_t *cfg, const struct directive *d, const char *v, char *why,
                     size_t whylen)
{
    char *p = (char *)cfg + d->off;
    if (d->type == C_ADDR && !addr_ok(v)) {
        snprintf(why, whylen, "%s must be HOST:PORT or [IPV6]:PORT (port 1-65535), or empty",
                 d->name);
        return -1;
    }
    if (d->type == C_ENUM) {
        size_t i = 0;
        while (d->values[i] && strcmp(d->values[i], v) != 0)
            i++;
        if (!d->values[i]) {
            char list[128];
            list_or(d->values, list, sizeof list);
            snprintf(why, whylen, "%s must be %s", d->name, list);
            return -1;
        }
    }
    if (d->type == C_STR || d->type == C_ENUM || d->type == C_ADDR) {
        char **sp = (char **)(void *)p;
        char *n = strdup(v);
        if (!n) return -1;
        free(*sp);
        *sp = n;
        return 0;
    }
    long n = 0;
    int overflow = 0;
    if (d->type == C_INT) {
        char *end;
        errno = 0;
        n = strtol(v, &end, 10);
        if (end == v || *end) {
            snprintf(why, whylen, "%s must be a whole number", d->name);
            return -1;
        }
        overflow = errno == ERANGE;
    } else {
        int rc = parse_ms(v, &n);
        if (rc == -1) {
            snprintf(why, whylen, "%s must be a duration such as 500ms, 2s or 1m", d->name);
            return -1;
        }
        overflow = rc == -2;
    }
    if (overflow || n < d->min || n > d->max) {
        if (d->type == C_MS)
            snprintf(why, whylen, "%s must be between %ldms and %ldms", d->name, d->min, d->max);
        else
            snprintf(why, whylen, "%s must be between %ld and %ld", d->name, d->min, d->max);
        return -1;
    }
    *(long *)(void *)p = n;
    return 0;
}

void config_defaults(config_t *cfg)
{
    char why[128];
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NDIRECTIVES; i++)
        set_value(cfg, &directives[i], directives[i].def, why, sizeof why);
}

void config_clear(config_t *cfg)
{
    for (size_t i = 0; i < NDIRECTIVES; i++)
        if (directives[i].type == C_STR || directives[i].type == C_ENUM ||
            directives[i].type == C_ADDR)
            free(*(char **)(void *)((char *)cfg + directives[i].off));
    for (size_t i = 0; i < cfg->nkafka; i++) {
        free(cfg->kafka[i].key);
        free(cfg->kafka[i].value);
    }
    free(cfg->kafka);
    memset(cfg, 0, sizeof *cfg);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

int config_load_string(config_t *cfg, const char *text, const char *name, const char *base_dir,
                       rules_diag_t *diag)
{
    size_t before = diag->count;
    char *copy = strdup(text);
    if (!copy) {
        diag_plain(diag, "%s: out of memory", name);
        return -1;
    }
    int lineno = 0;
    char *save = NULL;
    for (char *line = copy, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        (void)save;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *s = trim(line);
        if (!*s) continue;
        int col = (int)(s - line) + 1;
        char *eq = strchr(s, '=');
        if (!eq) {
            diag_at(diag, text, name, lineno, col, "expected \"key = value\"");
            continue;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        int vcol = (int)(val - line) + 1;
        if (strncmp(key, "kafka.", 6) == 0 && key[6]) {
            config_kv_t *n = realloc(cfg->kafka, (cfg->nkafka + 1) * sizeof *n);
            if (!n) break;
            cfg->kafka = n;
            cfg->kafka[cfg->nkafka].key = strdup(key + 6);
            cfg->kafka[cfg->nkafka].value = strdup(val);
            cfg->nkafka++;
            continue;
        }
        const struct directive *d = NULL;
        for (size_t i = 0; i < NDIRECTIVES; i++)
            if (strcmp(directives[i].name, key) == 0) d = &directives[i];
        if (!d) {
            diag_at(diag, text, name, lineno, col, "unknown key \"%s\"", key);
            continue;
        }
        char why[160];
        if (set_value(cfg, d, val, why, sizeof why) < 0)
            diag_at(diag, text, name, lineno, vcol, "%s", why);
    }
    free(copy);
    /* Relative paths are relative to the configuration file. */
    if (base_dir && cfg->rules_dir && cfg->rules_dir[0] != '/') {
        size_t n = strlen(base_dir) + strlen(cfg->rules_dir) + 2;
        char *p = malloc(n);
        if (p) {
            snprintf(p, n, "%s/%s", base_dir, cfg->rules_dir);
            free(cfg->rules_dir);
            cfg->rules_dir = p;
        }
    }
    return diag->count == before ? 0 : -1;
}

int config_load_file(config_t *cfg, const char *path, rules_diag_t *diag)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_plain(diag, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    if (n == sizeof buf - 1) {
        diag_plain(diag, "%s: over 64 KiB", path);
        return -1;
    }
    buf[n] = '\0';
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    return config_load_string(cfg, buf, path, dir, diag);
}

void config_print_reference(void)
{
    printf("| key | type | range | default | meaning |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < NDIRECTIVES; i++) {
        const struct directive *d = &directives[i];
        char range[64] = "";
        if (d->type == C_INT)
            snprintf(range, sizeof range, "%ld-%ld", d->min, d->max);
        else if (d->type == C_MS)
            snprintf(range, sizeof range, "%ldms-%ldms", d->min, d->max);
        printf("| `%s` | %s | %s | `%s` | %s |\n", d->name,
               d->type == C_STR || d->type == C_ENUM || d->type == C_ADDR ? "text"
               : d->type == C_INT                                         ? "number"
                                                                          : "duration",
               range, d->def, d->help);
    }
    printf("| `kafka.*` | text | | | passed to librdkafka (consumer and producer); "
           "`kafka.consumer.*`, `kafka.producer.*` to one of them |\n");
}

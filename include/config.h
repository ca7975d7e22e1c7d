/* config.h - the daemon's configuration file (config/detector.conf).
 *
 * "key = value" lines; '#' starts a comment. Every known key is in one table
 * (detector/config.c) with its type, range and default; keys starting with
 * "kafka." pass through to librdkafka: "kafka.X" to both the consumer and
 * the producer, "kafka.consumer.X" and "kafka.producer.X" to one of them.
 */
#ifndef DETECTOR_CONFIG_H
#define DETECTOR_CONFIG_H

#include <stddef.h>

#include "diag.h"

typedef struct config_kv {
    char *key;
    char *value;
} config_kv_t;

typedef struct config {
    char *rules_dir; /* resolved against the configuration file's directory */
    char *topic_events;
    char *topic_actions;
    char *topic_dlq;
    char *group_id;
    char *redis_host;
    long redis_port;
    char *redis_user; /* ACL user ("" : the default user) */
    char *redis_password;
    long redis_db;
    char *redis_prefix;
    long redis_timeout_ms;
    char *redis_on_state_loss; /* "continue" or "pause" */
    long activity_max;
    long batch_size;
    long batch_time_ms;
    long retry_max_ms;
    char *log_level;
    char *log_format;
    char *stats_file;
    long stats_interval_ms;
    char *metrics_listen;
    char *regex_on_limit;
    config_kv_t *kafka; /* passthrough, in file order: key without "kafka." */
    size_t nkafka;
} config_t;

/* Fills cfg with the defaults. Caller frees with config_clear. */
void config_defaults(config_t *cfg);
/* Parses text (borrowed) named `name`; base_dir resolves relative paths.
 * Returns 0, or -1 with every error in diag. */
int config_load_string(config_t *cfg, const char *text, const char *name, const char *base_dir,
                       rules_diag_t *diag);
/* Reads and parses a file. */
int config_load_file(config_t *cfg, const char *path, rules_diag_t *diag);
void config_clear(config_t *cfg);

/* Prints the table of keys (name, type, range, default, help) as Markdown. */
void config_print_reference(void);

#endif

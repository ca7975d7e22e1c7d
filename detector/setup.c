/* setup.c - loading the configuration and the rules; `detector check`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "log.h"

int setup_load_diag(const char *conf_path, const char *rules_dir, config_t *cfg, ruleset_t **rs,
                    rules_diag_t *diag)
{
    config_defaults(cfg);
    /* config.c checks every key, log.level too, at its FILE:LINE:COL. */
    int bad = config_load_file(cfg, conf_path, diag) < 0;
    if (strpbrk(cfg->redis_prefix, "{}") || strlen(cfg->redis_prefix) > 64) {
        /* A brace would move every key's Redis Cluster hash tag. */
        diag_plain(diag, "%s: redis.prefix must be at most 64 characters without { or }",
                   conf_path);
        bad = 1;
    }
    /* The rules are checked even when the configuration has errors, so one
     * run shows every error. */
    *rs = rules_load_dir(rules_dir ? rules_dir : cfg->rules_dir, diag);
    if (!*rs) bad = 1;
    if (*rs && cfg->regex_on_limit && strcmp(cfg->regex_on_limit, "nomatch") == 0)
        ruleset_set_regex_on_limit(*rs, REGEX_ON_LIMIT_NOMATCH);
    if (bad) {
        ruleset_free(*rs);
        *rs = NULL;
        config_clear(cfg);
        return -1;
    }
    return 0;
}

int setup_load(const char *conf_path, const char *rules_dir, config_t *cfg, ruleset_t **rs)
{
    rules_diag_t diag = {0};
    if (setup_load_diag(conf_path, rules_dir, cfg, rs, &diag) < 0) {
        if (diag.text) fputs(diag.text, stderr);
        fprintf(stderr, "%zu error%s\n", diag.count, diag.count == 1 ? "" : "s");
        rules_diag_free(&diag);
        return -1;
    }
    log_set_level(cfg->log_level);
    rules_diag_free(&diag);
    return 0;
}

int cmd_check(const char *conf_path, const char *rules_dir)
{
    config_t cfg;
    ruleset_t *rs;
    if (setup_load(conf_path, rules_dir, &cfg, &rs) < 0) return 1;
    fprintf(stderr, "%zu rules, %zu counters, %zu requests, %zu sets\n", ruleset_rule_count(rs),
            ruleset_counter_count(rs), ruleset_request_count(rs), ruleset_set_count(rs));
    printf("configuration OK\n");
    ruleset_free(rs);
    config_clear(&cfg);
    return 0;
}

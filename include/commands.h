/* commands.h - the subcommands of build/detector (detector/main.c parses
 * the command line and calls one of these). Each returns the exit status. */
#ifndef DETECTOR_COMMANDS_H
#define DETECTOR_COMMANDS_H

#include "config.h"
#include "rules.h"

/* Loads the configuration at conf_path and the rules (from rules_dir when
 * not NULL, else from the configuration). On failure prints every error on
 * stderr and returns -1. */
int setup_load(const char *conf_path, const char *rules_dir, config_t *cfg, ruleset_t **rs);
/* The same without printing or side effects: errors go to diag (caller
 * frees with rules_diag_free). Used to reload a running daemon. */
int setup_load_diag(const char *conf_path, const char *rules_dir, config_t *cfg, ruleset_t **rs,
                    rules_diag_t *diag);

int cmd_check(const char *conf_path, const char *rules_dir);
int cmd_replay(const char *conf_path, const char *rules_dir, char **files, int nfiles);
int cmd_run(const char *conf_path);
int cmd_test(const char *conf_path, const char *rules_dir);
int cmd_migrate(const char *conf_path, int dry_run);

#endif

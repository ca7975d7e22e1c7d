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

int cmd_check(const char *conf_path, const char *rules_dir);
int cmd_replay(const char *conf_path, const char *rules_dir, char **files, int nfiles);
int cmd_run(const char *conf_path);

#endif

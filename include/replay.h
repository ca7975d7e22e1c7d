/* replay.h - `detector replay`: the pipeline over JSON Lines files with the
 * in-memory store, and the analyst's options on it (explain, compare).
 *
 * Without options: the actions on stdout, the per-rule table (backtest.h)
 * on stderr. --explain prints the explanation of every event (explain.h) on
 * stdout instead of the actions, which are decided the same. --compare runs
 * a second rule set over the same events and prints the difference on
 * stderr. Progress goes to stderr every 2 s (DETECTOR_PROGRESS_MS, in
 * milliseconds, changes the interval).
 */
#ifndef DETECTOR_REPLAY_H
#define DETECTOR_REPLAY_H

#include <stddef.h>

#include "explain.h"

typedef struct replay_opts {
    int explain;             /* --explain */
    explain_format_t format; /* --format text|json */
    const char **rules;      /* --explain-rule ID..., borrowed */
    size_t nrules;
    const char **identities; /* --explain-identity ID..., borrowed */
    size_t nidentities;
    const char *compare_dir; /* --compare DIR: rule set B, or NULL */
} replay_opts_t;

/* Runs `detector replay` over files (borrowed; "-" is stdin) with the
 * configuration at conf_path and the rules of rules_dir (NULL: the
 * configuration's). opts may be NULL. Returns the exit status: 0, 1 on an
 * error (printed on stderr), 2 on a bad option. */
int replay_main(const char *conf_path, const char *rules_dir, char **files, int nfiles,
                const replay_opts_t *opts);

#endif

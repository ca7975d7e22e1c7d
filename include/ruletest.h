/* ruletest.h - the test cases carried by rule files (`detector test`). */
#ifndef DETECTOR_RULETEST_H
#define DETECTOR_RULETEST_H

#include <stddef.h>
#include <stdio.h>

#include "rules.h"

/* Runs every test of rs (borrowed), each with a fresh memory store, and
 * prints one line per test ("FILE:LINE: ok NAME" or "FAIL" with a diff of
 * expected and got actions) to out. Returns 0 when all passed. */
int ruletest_run(const ruleset_t *rs, size_t activity_cap, FILE *out, size_t *passed,
                 size_t *failed);

#endif

/* main.c - the command line: detector run | check | replay | test | migrate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "replay.h"

#define DEFAULT_CONF "config/detector.conf"

static void usage(FILE *f)
{
    fprintf(f, "usage: detector run [-c FILE]\n"
               "       detector check [-c FILE] [--rules DIR]\n"
               "       detector replay [-c FILE] [--rules DIR] [--compare DIR] FILE...   (- for "
               "standard input)\n"
               "                       [--explain [--format text|json] [--explain-rule ID]... "
               "[--explain-identity ID]...]\n"
               "       detector test [-c FILE] [--rules DIR]\n"
               "       detector migrate [-c FILE] [--dry-run]\n"
               "       detector config-reference\n"
               "-c defaults to " DEFAULT_CONF ".\n");
}

/* Frees what main allocated for the options. */
static void free_args(char **files, replay_opts_t *ro)
{
    free(files);
    free(ro->rules);
    free(ro->identities);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    const char *conf = DEFAULT_CONF, *rules = NULL;
    char **files = calloc((size_t)argc, sizeof *files);
    int nfiles = 0, replay_only = 0, dry_run = 0;
    /* Replay's options; the filters imply --explain. */
    replay_opts_t ro = {0};
    ro.rules = calloc((size_t)argc, sizeof *ro.rules);
    ro.identities = calloc((size_t)argc, sizeof *ro.identities);
    if (!files || !ro.rules || !ro.identities) return 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc)
            conf = argv[++i];
        else if (strcmp(a, "--rules") == 0 && i + 1 < argc)
            rules = argv[++i];
        else if (strcmp(a, "--dry-run") == 0 && strcmp(cmd, "migrate") == 0)
            dry_run = 1;
        else if (strcmp(a, "--explain") == 0)
            ro.explain = replay_only = 1;
        else if (strcmp(a, "--format") == 0 && i + 1 < argc) {
            const char *fmt = argv[++i];
            if (strcmp(fmt, "text") != 0 && strcmp(fmt, "json") != 0) {
                fprintf(stderr, "detector %s: --format is text or json, not %s\n", cmd, fmt);
                free_args(files, &ro);
                return 2;
            }
            ro.format = strcmp(fmt, "json") == 0 ? EXPLAIN_JSON : EXPLAIN_TEXT;
            ro.explain = replay_only = 1;
        } else if (strcmp(a, "--explain-rule") == 0 && i + 1 < argc) {
            ro.rules[ro.nrules++] = argv[++i];
            ro.explain = replay_only = 1;
        } else if (strcmp(a, "--explain-identity") == 0 && i + 1 < argc) {
            ro.identities[ro.nidentities++] = argv[++i];
            ro.explain = replay_only = 1;
        } else if (strcmp(a, "--compare") == 0 && i + 1 < argc) {
            ro.compare_dir = argv[++i];
            replay_only = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            free_args(files, &ro);
            return 0;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "detector %s: unknown option %s\n", cmd, a);
            usage(stderr);
            free_args(files, &ro);
            return 2;
        } else
            files[nfiles++] = argv[i];
    }
    int rc;
    if (replay_only && strcmp(cmd, "replay") != 0) {
        fprintf(stderr,
                "detector %s: --explain, --format, --explain-rule, --explain-identity and "
                "--compare are options of replay\n",
                cmd);
        usage(stderr);
        rc = 2;
    } else if (strcmp(cmd, "check") == 0 && nfiles == 0)
        rc = cmd_check(conf, rules);
    else if (strcmp(cmd, "replay") == 0 && nfiles > 0)
        rc = replay_main(conf, rules, files, nfiles, &ro);
    else if (strcmp(cmd, "run") == 0 && nfiles == 0 && !rules)
        rc = cmd_run(conf);
    else if (strcmp(cmd, "config-reference") == 0) {
        config_print_reference();
        rc = 0;
    } else if (strcmp(cmd, "test") == 0 && nfiles == 0) {
        rc = cmd_test(conf, rules);
    } else if (strcmp(cmd, "migrate") == 0 && nfiles == 0 && !rules) {
        rc = cmd_migrate(conf, dry_run);
    } else {
        usage(stderr);
        rc = 2;
    }
    free_args(files, &ro);
    return rc;
}

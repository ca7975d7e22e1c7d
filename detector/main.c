/* main.c - the command line: detector run | check | replay | test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

#define DEFAULT_CONF "config/detector.conf"

static void usage(FILE *f)
{
    fprintf(f, "usage: detector run [-c FILE]\n"
               "       detector check [-c FILE] [--rules DIR]\n"
               "       detector replay [-c FILE] [--rules DIR] FILE...   (- for standard input)\n"
               "       detector test [-c FILE] [--rules DIR]\n"
               "       detector config-reference\n"
               "-c defaults to " DEFAULT_CONF ".\n");
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
    int nfiles = 0;
    if (!files) return 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc)
            conf = argv[++i];
        else if (strcmp(a, "--rules") == 0 && i + 1 < argc)
            rules = argv[++i];
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            free(files);
            return 0;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "detector %s: unknown option %s\n", cmd, a);
            usage(stderr);
            free(files);
            return 2;
        } else
            files[nfiles++] = argv[i];
    }
    int rc;
    if (strcmp(cmd, "check") == 0 && nfiles == 0)
        rc = cmd_check(conf, rules);
    else if (strcmp(cmd, "replay") == 0 && nfiles > 0)
        rc = cmd_replay(conf, rules, files, nfiles);
    else if (strcmp(cmd, "run") == 0 && nfiles == 0 && !rules)
        rc = cmd_run(conf);
    else if (strcmp(cmd, "config-reference") == 0) {
        config_print_reference();
        rc = 0;
    } else if (strcmp(cmd, "test") == 0 && nfiles == 0) {
        rc = cmd_test(conf, rules);
    } else {
        usage(stderr);
        rc = 2;
    }
    free(files);
    return rc;
}

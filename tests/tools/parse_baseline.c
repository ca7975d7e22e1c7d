/*
 * parse_baseline: the floor under the detector's throughput, for make bench.
 *
 *   parse_baseline [FILE|-]...
 *
 * Reads JSON Lines (default stdin) and does nothing but parse each non-empty
 * line with Jansson, with the flags of detector/event.c
 * (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY), and drop the document. Reading
 * is done as replay does it (getline on a stdio stream), so the figure is
 * what one core does to read and parse the same bytes and nothing else.
 *
 * Prints one line on stdout:
 *
 *   events N errors E seconds S events_per_s R
 *
 * (S: wall-clock seconds of the read-and-parse loop). Exit 0, or 1 when a
 * file cannot be read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

struct tally {
    long events;
    long errors;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parses every non-empty line of in; the caller keeps in. */
static int parse_stream(FILE *in, struct tally *t)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    while ((len = getline(&line, &cap, in)) != -1) {
        json_error_t jerr;
        json_t *doc;

        if (len > 0 && line[len - 1] == '\n') len--;
        if (len == 0) continue;
        doc = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (doc == NULL)
            t->errors++;
        else
            json_decref(doc);
        t->events++;
    }
    free(line);
    return ferror(in) ? -1 : 0;
}

int main(int argc, char **argv)
{
    struct tally t = {0, 0};
    double start, secs;
    int i, status = 0;

    start = now_s();
    if (argc < 2 && parse_stream(stdin, &t) != 0) {
        fprintf(stderr, "parse_baseline: stdin: %s\n", strerror(errno));
        status = 1;
    }
    for (i = 1; i < argc; i++) {
        int is_stdin = strcmp(argv[i], "-") == 0;
        FILE *in = is_stdin ? stdin : fopen(argv[i], "r");

        if (in == NULL || parse_stream(in, &t) != 0) {
            fprintf(stderr, "parse_baseline: %s: %s\n", argv[i], strerror(errno));
            status = 1;
        }
        if (in != NULL && !is_stdin) fclose(in);
    }
    secs = now_s() - start;
    printf("events %ld errors %ld seconds %.3f events_per_s %.0f\n", t.events, t.errors, secs,
           secs > 0 ? (double)t.events / secs : 0.0);
    return status;
}

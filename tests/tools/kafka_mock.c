/*
 * kafka_mock: runs a librdkafka mock Kafka cluster (the real Kafka protocol
 * over TCP on 127.0.0.1) until SIGTERM or SIGINT, for the integration tests
 * and the demo.
 *
 *   kafka_mock [--brokers N] [--topic NAME:PARTITIONS]... [--port-file FILE]
 *
 * It prints "BOOTSTRAP=host:port,..." on stdout once the cluster listens, and
 * writes the same bootstrap list as one line to FILE (through FILE.tmp and
 * rename(), so a reader never sees half of it; removed again at a clean exit).
 * Topics get min(N, 3) replicas; the mock also creates unknown topics on
 * first use, with 4 partitions.
 *
 * Fault injection: while stdin is open, one command per line, each answered
 * with "OK" or "ERR reason" on stdout:
 *
 *   broker down ID                  broker ID refuses and closes connections
 *   broker up ID                    broker ID accepts connections again
 *   broker rtt ID MS                broker ID delays every response by MS ms
 *   errors APIKEY ERRNAME COUNT     the next COUNT requests of APIKEY, to
 *                                   any broker, fail with ERRNAME (e.g.
 *                                   "errors Produce NOT_LEADER_FOR_PARTITION 3")
 *   broker errors ID APIKEY ERRNAME COUNT [MS]
 *                                   the next COUNT requests of APIKEY to broker
 *                                   ID fail with ERRNAME (NO_ERROR: succeed),
 *                                   each answered after MS ms (default 0)
 *   broker pending ID APIKEY        answers "OK N": N of those errors are
 *                                   still to come
 *   leader TOPIC PARTITION ID       broker ID leads the partition (-1: none)
 *   coordinator group|transaction KEY ID
 *                                   broker ID coordinates group (or
 *                                   transactional id) KEY
 *
 * Clients see a new leader or coordinator at their next metadata or
 * FindCoordinator request: set them before clients connect. With "leader" and
 * "coordinator" a test puts, say, the detector's output topic on a broker of
 * its own, and "broker errors" there hits the detector's producer and not the
 * test's.
 *
 * APIKEY is a Kafka API name (Produce, Fetch, OffsetCommit, JoinGroup, ...) or
 * number; ERRNAME a broker error name from rdkafka.h, with or without the
 * RD_KAFKA_RESP_ERR_ prefix, or its number.
 *
 * End of stdin only stops the reading of commands; the cluster keeps running.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* The mock cluster accepts its connections without TCP_NODELAY, where a
 * real broker sets it (Kafka's SocketServer does). Nagle's algorithm then
 * holds a small reply until the client's delayed ACK, about 40 ms on Linux:
 * one produce in eight took 40-48 ms to be acknowledged, and the latency
 * measured was the mock's. This accept(), which the linker exports in place
 * of libc's for librdkafka to call, sets TCP_NODELAY as a broker would. */
int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    static int (*real_accept)(int, struct sockaddr *, socklen_t *);
    if (!real_accept) {
        *(void **)&real_accept = dlsym(RTLD_NEXT, "accept");
        if (!real_accept) {
            errno = ENOSYS;
            return -1;
        }
    }
    int c = real_accept(fd, addr, len);
    if (c >= 0) {
        int one = 1;
        (void)setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return c;
}

#define MAX_TOPICS 64
#define MAX_BROKERS 32
#define MAX_PARTITIONS 1024
#define MAX_ERROR_COUNT 100000
#define CMD_LINE_MAX 1024

struct topic_spec {
    char *name; /* owned */
    int partitions;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: kafka_mock [--brokers N] [--topic NAME:PARTITIONS]... "
                 "[--port-file FILE]\n"
                 "stdin commands: broker down ID | broker up ID | broker rtt ID MS |\n"
                 "                errors APIKEY ERRNAME COUNT |\n"
                 "                broker errors ID APIKEY ERRNAME COUNT [MS] |\n"
                 "                broker pending ID APIKEY |\n"
                 "                leader TOPIC PARTITION ID |\n"
                 "                coordinator group|transaction KEY ID\n");
}

/* Parses a decimal integer in [min, max]; the whole string must be the number. */
static int parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/* Kafka API keys by name, as in the protocol guide; a number is accepted too. */
static int api_key_lookup(const char *name, int16_t *key)
{
    static const struct {
        const char *name;
        int16_t key;
    } apis[] = {
        {"Produce", 0},         {"Fetch", 1},       {"ListOffsets", 2},      {"Metadata", 3},
        {"OffsetCommit", 8},    {"OffsetFetch", 9}, {"FindCoordinator", 10}, {"JoinGroup", 11},
        {"Heartbeat", 12},      {"LeaveGroup", 13}, {"SyncGroup", 14},       {"ApiVersions", 18},
        {"InitProducerId", 22},
    };
    size_t i;
    long v;

    for (i = 0; i < sizeof(apis) / sizeof(apis[0]); i++) {
        if (strcasecmp(name, apis[i].name) == 0) {
            *key = apis[i].key;
            return 0;
        }
    }
    if (parse_int(name, 0, 100, &v) == 0) {
        *key = (int16_t)v;
        return 0;
    }
    return -1;
}

/*
 * Broker error codes by name, from librdkafka's own table so that every
 * RD_KAFKA_RESP_ERR_ code works, with or without the prefix, or as a number.
 * Internal (client-side) codes are refused: a broker cannot send them.
 */
static int error_code_lookup(const char *name, rd_kafka_resp_err_t *code)
{
    const struct rd_kafka_err_desc *descs;
    size_t cnt, i;
    long v;

    if (strncasecmp(name, "RD_KAFKA_RESP_ERR_", 18) == 0) name += 18;
    rd_kafka_get_err_descs(&descs, &cnt);
    for (i = 0; i < cnt; i++) {
        if (descs[i].name == NULL || descs[i].name[0] == '_') continue;
        if (strcasecmp(name, descs[i].name) == 0) {
            *code = descs[i].code;
            return 0;
        }
    }
    if (parse_int(name, -1, SHRT_MAX, &v) == 0) {
        *code = (rd_kafka_resp_err_t)v;
        return 0;
    }
    return -1;
}

/* Splits line into at most max words separated by blanks; returns the count. */
static int split_words(char *line, char **words, int max)
{
    int n = 0;
    char *save = NULL;
    char *w;

    for (w = strtok_r(line, " \t\r", &save); w != NULL; w = strtok_r(NULL, " \t\r", &save)) {
        if (n == max) return max + 1;
        words[n++] = w;
    }
    return n;
}

/*
 * "broker errors ID APIKEY ERRNAME COUNT [MS]": COUNT errors (each delayed by
 * MS) on broker ID's stack for APIKEY. Prints the answer.
 */
static void broker_errors(rd_kafka_mock_cluster_t *mcluster, char **w, int n)
{
    int16_t api;
    rd_kafka_resp_err_t code, err = RD_KAFKA_RESP_ERR_NO_ERROR;
    long id, cnt, rtt = 0, i;

    if ((n != 6 && n != 7) || parse_int(w[2], 0, INT32_MAX, &id) != 0) {
        printf("ERR usage: broker errors ID APIKEY ERRNAME COUNT [MS]\n");
    } else if (api_key_lookup(w[3], &api) != 0) {
        printf("ERR unknown API key \"%s\"\n", w[3]);
    } else if (error_code_lookup(w[4], &code) != 0) {
        printf("ERR unknown error name \"%s\"\n", w[4]);
    } else if (parse_int(w[5], 1, MAX_ERROR_COUNT, &cnt) != 0) {
        printf("ERR count must be between 1 and %d\n", MAX_ERROR_COUNT);
    } else if (n == 7 && parse_int(w[6], 0, 3600 * 1000, &rtt) != 0) {
        printf("ERR MS must be between 0 and 3600000\n");
    } else {
        /* One tuple per call: the function takes its tuples as varargs. */
        for (i = 0; i < cnt && err == RD_KAFKA_RESP_ERR_NO_ERROR; i++)
            err = rd_kafka_mock_broker_push_request_error_rtts(mcluster, (int32_t)id, api, 1, code,
                                                               (int)rtt);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
            printf("ERR broker %ld: %s\n", id, rd_kafka_err2str(err));
        else
            printf("OK\n");
    }
}

/* Runs one stdin command and prints its answer. */
static void command_run(rd_kafka_mock_cluster_t *mcluster, char *line)
{
    char *w[9];
    int n = split_words(line, w, 8);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    long id, v;

    if (n == 0) return;

    if (strcmp(w[0], "broker") == 0 && n > 1 && strcmp(w[1], "errors") == 0) {
        broker_errors(mcluster, w, n);
    } else if (strcmp(w[0], "broker") == 0 && n > 1 && strcmp(w[1], "pending") == 0) {
        int16_t api;
        size_t cnt = 0;

        if (n != 4 || parse_int(w[2], 0, INT32_MAX, &id) != 0 || api_key_lookup(w[3], &api) != 0) {
            printf("ERR usage: broker pending ID APIKEY\n");
            goto out;
        }
        err = rd_kafka_mock_broker_error_stack_cnt(mcluster, (int32_t)id, api, &cnt);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
            printf("ERR broker %ld: %s\n", id, rd_kafka_err2str(err));
        else
            printf("OK %zu\n", cnt);
    } else if (strcmp(w[0], "leader") == 0) {
        if (n != 4 || parse_int(w[2], 0, MAX_PARTITIONS - 1, &v) != 0 ||
            parse_int(w[3], -1, INT32_MAX, &id) != 0) {
            printf("ERR usage: leader TOPIC PARTITION ID\n");
            goto out;
        }
        err = rd_kafka_mock_partition_set_leader(mcluster, w[1], (int32_t)v, (int32_t)id);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
            printf("ERR leader %s [%ld]: %s\n", w[1], v, rd_kafka_err2str(err));
        else
            printf("OK\n");
    } else if (strcmp(w[0], "coordinator") == 0) {
        if (n != 4 || (strcmp(w[1], "group") != 0 && strcmp(w[1], "transaction") != 0) ||
            parse_int(w[3], 0, INT32_MAX, &id) != 0) {
            printf("ERR usage: coordinator group|transaction KEY ID\n");
            goto out;
        }
        err = rd_kafka_mock_coordinator_set(mcluster, w[1], w[2], (int32_t)id);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
            printf("ERR coordinator %s: %s\n", w[2], rd_kafka_err2str(err));
        else
            printf("OK\n");
    } else if (strcmp(w[0], "broker") == 0) {
        if (n < 3 || parse_int(w[2], 0, INT32_MAX, &id) != 0) {
            printf("ERR usage: broker down|up ID, broker rtt ID MS\n");
            goto out;
        }
        if (strcmp(w[1], "down") == 0 && n == 3) {
            err = rd_kafka_mock_broker_set_down(mcluster, (int32_t)id);
        } else if (strcmp(w[1], "up") == 0 && n == 3) {
            err = rd_kafka_mock_broker_set_up(mcluster, (int32_t)id);
        } else if (strcmp(w[1], "rtt") == 0 && n == 4 && parse_int(w[3], 0, 3600 * 1000, &v) == 0) {
            err = rd_kafka_mock_broker_set_rtt(mcluster, (int32_t)id, (int)v);
        } else {
            printf("ERR usage: broker down|up ID, broker rtt ID MS\n");
            goto out;
        }
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
            printf("ERR broker %ld: %s\n", id, rd_kafka_err2str(err));
        else
            printf("OK\n");
    } else if (strcmp(w[0], "errors") == 0) {
        int16_t api;
        rd_kafka_resp_err_t code;
        rd_kafka_resp_err_t *codes;
        long i;

        if (n != 4) {
            printf("ERR usage: errors APIKEY ERRNAME COUNT\n");
        } else if (api_key_lookup(w[1], &api) != 0) {
            printf("ERR unknown API key \"%s\"\n", w[1]);
        } else if (error_code_lookup(w[2], &code) != 0) {
            printf("ERR unknown error name \"%s\"\n", w[2]);
        } else if (parse_int(w[3], 1, MAX_ERROR_COUNT, &v) != 0) {
            printf("ERR count must be between 1 and %d\n", MAX_ERROR_COUNT);
        } else if ((codes = malloc((size_t)v * sizeof(*codes))) == NULL) {
            printf("ERR out of memory\n");
        } else {
            for (i = 0; i < v; i++)
                codes[i] = code;
            rd_kafka_mock_push_request_errors_array(mcluster, api, (size_t)v, codes);
            free(codes);
            printf("OK\n");
        }
    } else {
        printf("ERR unknown command \"%s\"\n", w[0]);
    }
out:
    fflush(stdout);
}

/*
 * Reads what stdin has and runs every complete line. Returns -1 once stdin
 * is at end of file (or unreadable), after running a last unterminated line.
 */
static int commands_read(rd_kafka_mock_cluster_t *mcluster, char *buf, size_t *len)
{
    ssize_t r;
    char *nl;

    r = read(STDIN_FILENO, buf + *len, CMD_LINE_MAX - 1 - *len);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
    if (r <= 0) {
        if (*len > 0) {
            buf[*len] = '\0';
            command_run(mcluster, buf);
            *len = 0;
        }
        return -1;
    }
    *len += (size_t)r;
    buf[*len] = '\0';
    while ((nl = memchr(buf, '\n', *len)) != NULL) {
        size_t used = (size_t)(nl - buf) + 1;

        *nl = '\0';
        command_run(mcluster, buf);
        memmove(buf, buf + used, *len - used);
        *len -= used;
    }
    if (*len == CMD_LINE_MAX - 1) {
        printf("ERR command longer than %d bytes\n", CMD_LINE_MAX - 2);
        fflush(stdout);
        *len = 0;
    }
    return 0;
}

/* The mock must only be reachable from this host: every broker on 127.0.0.1. */
static int bootstraps_are_loopback(const char *bootstraps)
{
    const char *p = bootstraps;

    while (*p != '\0') {
        if (strncmp(p, "127.0.0.1:", 10) != 0) return 0;
        p = strchr(p, ',');
        if (p == NULL) break;
        p++;
    }
    return 1;
}

static int port_file_write(const char *path, const char *bootstraps)
{
    char tmp[PATH_MAX];
    FILE *f;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        fprintf(stderr, "kafka_mock: %s: path too long\n", path);
        return -1;
    }
    f = fopen(tmp, "w");
    if (f == NULL) goto fail;
    if (fprintf(f, "%s\n", bootstraps) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        goto fail;
    }
    if (fclose(f) != 0) goto fail;
    if (rename(tmp, path) != 0) goto fail;
    return 0;
fail:
    fprintf(stderr, "kafka_mock: %s: %s\n", tmp, strerror(errno));
    unlink(tmp);
    return -1;
}

int main(int argc, char **argv)
{
    struct topic_spec topics[MAX_TOPICS];
    int ntopics = 0;
    long brokers = 1;
    const char *port_file = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mcluster = NULL;
    const char *bootstraps;
    char errstr[512];
    char cmdbuf[CMD_LINE_MAX];
    size_t cmdlen = 0;
    int stdin_open = 1;
    int status = 1;
    struct sigaction sa;
    int i;

    /*
     * 1. Parse the command line.
     * 2. Create a producer handle to own the cluster, then the cluster and
     *    its topics; check that it listens on loopback only.
     * 3. Announce the bootstrap list on stdout and in the port file.
     * 4. Run stdin commands until EOF, and wait for a signal.
     */
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            status = 0;
            goto out;
        }
        if (strcmp(arg, "--brokers") != 0 && strcmp(arg, "--topic") != 0 &&
            strcmp(arg, "--port-file") != 0) {
            fprintf(stderr, "kafka_mock: unknown argument %s\n", arg);
            usage(stderr);
            goto out;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "kafka_mock: %s needs an argument\n", arg);
            usage(stderr);
            goto out;
        }
        if (strcmp(arg, "--brokers") == 0) {
            if (parse_int(argv[++i], 1, MAX_BROKERS, &brokers) != 0) {
                fprintf(stderr, "kafka_mock: --brokers must be between 1 and %d\n", MAX_BROKERS);
                goto out;
            }
        } else if (strcmp(arg, "--topic") == 0) {
            char *spec = argv[++i];
            char *colon = strrchr(spec, ':');
            long parts;

            if (colon == NULL || colon == spec ||
                parse_int(colon + 1, 1, MAX_PARTITIONS, &parts) != 0) {
                fprintf(stderr,
                        "kafka_mock: --topic %s: want NAME:PARTITIONS, "
                        "partitions between 1 and %d\n",
                        spec, MAX_PARTITIONS);
                goto out;
            }
            if (ntopics == MAX_TOPICS) {
                fprintf(stderr, "kafka_mock: at most %d topics\n", MAX_TOPICS);
                goto out;
            }
            topics[ntopics].name = strndup(spec, (size_t)(colon - spec));
            if (topics[ntopics].name == NULL) {
                fprintf(stderr, "kafka_mock: out of memory\n");
                goto out;
            }
            topics[ntopics].partitions = (int)parts;
            ntopics++;
        } else {
            port_file = argv[++i];
        }
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* A closed stdin must not let a librdkafka socket become fd 0 and be
     * read as commands. */
    if (fcntl(STDIN_FILENO, F_GETFD) == -1 && errno == EBADF &&
        open("/dev/null", O_RDONLY) != STDIN_FILENO) {
        fprintf(stderr, "kafka_mock: /dev/null: %s\n", strerror(errno));
        goto out;
    }

    /* librdkafka blocks signals in its own threads, so they reach this one. */
    conf = rd_kafka_conf_new();
    /* The handle only owns the cluster: hide its notice about having no
     * bootstrap.servers of its own. */
    rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr));
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "kafka_mock: rd_kafka_new: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    conf = NULL; /* owned by rk */

    mcluster = rd_kafka_mock_cluster_new(rk, (int)brokers);
    if (mcluster == NULL) {
        fprintf(stderr, "kafka_mock: cannot create a mock cluster of %ld brokers\n", brokers);
        goto out;
    }
    for (i = 0; i < ntopics; i++) {
        int rf = brokers < 3 ? (int)brokers : 3;
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mcluster, topics[i].name, topics[i].partitions, rf);

        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "kafka_mock: topic %s: %s\n", topics[i].name, rd_kafka_err2str(err));
            goto out;
        }
    }

    bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
    if (!bootstraps_are_loopback(bootstraps)) {
        fprintf(stderr, "kafka_mock: brokers not on 127.0.0.1 only: %s\n", bootstraps);
        goto out;
    }
    if (port_file != NULL && port_file_write(port_file, bootstraps) != 0) goto out;
    printf("BOOTSTRAP=%s\n", bootstraps);
    fflush(stdout);

    while (!stop_requested) {
        if (stdin_open) {
            struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
            int r = poll(&pfd, 1, 100);

            if (r > 0 && (pfd.revents & POLLNVAL))
                stdin_open = 0;
            else if (r > 0 && commands_read(mcluster, cmdbuf, &cmdlen) != 0)
                stdin_open = 0;
        } else {
            struct timespec ts = {0, 100 * 1000 * 1000};

            nanosleep(&ts, NULL);
        }
    }
    status = 0;

out:
    if (mcluster != NULL) rd_kafka_mock_cluster_destroy(mcluster);
    if (rk != NULL) rd_kafka_destroy(rk);
    if (port_file != NULL && mcluster != NULL && status == 0) unlink(port_file);
    for (i = 0; i < ntopics; i++)
        free(topics[i].name);
    return status;
}

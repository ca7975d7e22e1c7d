/* redis_server.c - a throwaway redis-server for tests (see redis_server.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <hiredis/hiredis.h>

#include "redis_server.h"

#define MAX_LIVE 32
#define START_TRIES 5
#define READY_MS 5000
#define STOP_MS 5000

/* Every running server, for the atexit handler. */
static struct {
    pid_t pid;
    char dir[256];
} live[MAX_LIVE];
static int atexit_set;

static void sleep_ms(long ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void remove_dir(const char *dir)
{
    char path[512];
    struct dirent *de;
    DIR *d;

    if (dir[0] == '\0') return;
    d = opendir(dir);
    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* SIGTERM, wait up to STOP_MS, then SIGKILL. */
static void kill_wait(pid_t pid)
{
    int waited = 0, status;

    kill(pid, SIGTERM);
    kill(pid, SIGCONT); /* a test may have stopped it */
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (waited >= STOP_MS) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return;
        }
        sleep_ms(10);
        waited += 10;
    }
}

static void stop_all(void)
{
    int i;

    for (i = 0; i < MAX_LIVE; i++) {
        if (live[i].pid > 0) {
            kill_wait(live[i].pid);
            remove_dir(live[i].dir);
            live[i].pid = 0;
        }
    }
}

static void live_add(const test_redis_t *r)
{
    int i;

    if (!atexit_set) {
        atexit(stop_all);
        atexit_set = 1;
    }
    for (i = 0; i < MAX_LIVE; i++) {
        if (live[i].pid == 0) {
            live[i].pid = r->pid;
            snprintf(live[i].dir, sizeof live[i].dir, "%s", r->dir);
            return;
        }
    }
}

static void live_remove(pid_t pid)
{
    int i;

    for (i = 0; i < MAX_LIVE; i++)
        if (live[i].pid == pid) live[i].pid = 0;
}

/* A port the kernel just handed out on 127.0.0.1, or -1. */
static int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd, port = -1;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* 1 when the server on port answers PING and is our child pid (not some
 * other server that took the port first). */
static int answers_ping(int port, pid_t pid)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *rep;
    char want[48];
    int ok = 0;

    if (c == NULL) return 0;
    if (!c->err && redisSetTimeout(c, tv) == REDIS_OK) {
        rep = redisCommand(c, "PING");
        ok = rep != NULL && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;
        if (rep != NULL) freeReplyObject(rep);
        if (ok) {
            snprintf(want, sizeof want, "process_id:%ld\r\n", (long)pid);
            rep = redisCommand(c, "INFO server");
            ok = rep != NULL && rep->type == REDIS_REPLY_STRING && strstr(rep->str, want);
            if (rep != NULL) freeReplyObject(rep);
        }
    }
    redisFree(c);
    return ok;
}

static void exec_server(const test_redis_t *r, pid_t parent)
{
    char portstr[16], log[512];
    int fd;

#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    if (getppid() != parent) _exit(1);
    snprintf(portstr, sizeof portstr, "%d", r->port);
    snprintf(log, sizeof log, "%s/redis.log", r->dir);
    fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
    }
    fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) dup2(fd, STDIN_FILENO);
    for (fd = 3; fd < 1024; fd++)
        close(fd);
    execlp("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", portstr, "--save", "",
           "--appendonly", "no", "--dir", r->dir, "--daemonize", "no", (char *)NULL);
    _exit(127);
}

int test_redis_start_port(test_redis_t *r, int port)
{
    const char *tmp = getenv("TMPDIR");
    pid_t parent = getpid(), pid;
    int waited = 0, status;

    memset(r, 0, sizeof *r);
    if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 200) tmp = "/tmp";
    snprintf(r->dir, sizeof r->dir, "%s/test-redis-XXXXXX", tmp);
    if (mkdtemp(r->dir) == NULL) {
        fprintf(stderr, "test_redis: mkdtemp %s: %s\n", r->dir, strerror(errno));
        r->dir[0] = '\0';
        return -1;
    }
    r->port = port;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "test_redis: fork: %s\n", strerror(errno));
        goto fail;
    }
    if (pid == 0) exec_server(r, parent);
    r->pid = pid;
    live_add(r);
    while (waited < READY_MS) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "test_redis: redis-server on port %d exited (see %s/redis.log)\n", port,
                    r->dir);
            live_remove(pid);
            r->pid = 0;
            goto fail;
        }
        if (answers_ping(port, pid)) return 0;
        sleep_ms(20);
        waited += 20;
    }
    fprintf(stderr, "test_redis: redis-server on port %d does not answer PING\n", port);
    kill_wait(pid);
    live_remove(pid);
    r->pid = 0;
fail:
    remove_dir(r->dir);
    r->dir[0] = '\0';
    return -1;
}

int test_redis_start(test_redis_t *r)
{
    int i, port;

    for (i = 0; i < START_TRIES; i++) {
        port = free_port();
        if (port > 0 && test_redis_start_port(r, port) == 0) return 0;
    }
    fprintf(stderr, "test_redis: cannot start redis-server\n");
    return -1;
}

void test_redis_stop(test_redis_t *r)
{
    if (r == NULL) return;
    if (r->pid > 0) {
        kill_wait(r->pid);
        live_remove(r->pid);
        r->pid = 0;
    }
    remove_dir(r->dir);
    r->dir[0] = '\0';
}

/* service.c - sd_notify for systemd (see service.h). */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "service.h"

static void notify(const char *state)
{
    sd_notify(0, state); /* 0 without NOTIFY_SOCKET; a failure changes nothing here */
}

void service_ready(const char *status)
{
    if (status)
        sd_notifyf(0, "READY=1\nSTATUS=%s", status);
    else
        notify("READY=1");
}

void service_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
               (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void service_stopping(void)
{
    notify("STOPPING=1");
}

void service_status(const char *fmt, ...)
{
    char status[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(status, sizeof status, fmt, ap);
    va_end(ap);
    sd_notifyf(0, "STATUS=%s", status);
}

void service_watchdog(int64_t now_ms)
{
    static int checked;
    static uint64_t interval_us;
    static int64_t last_ms;
    if (!checked) {
        checked = 1;
        if (sd_watchdog_enabled(0, &interval_us) <= 0) interval_us = 0;
    }
    if (interval_us == 0) return;
    if (last_ms != 0 && now_ms - last_ms < (int64_t)(interval_us / 2000)) return;
    last_ms = now_ms;
    notify("WATCHDOG=1");
}

/* service.h - telling systemd how the daemon is doing (sd_notify).
 *
 * Without NOTIFY_SOCKET in the environment (not started by systemd with
 * Type=notify or notify-reload) every call does nothing.
 */
#ifndef DETECTOR_SERVICE_H
#define DETECTOR_SERVICE_H

#include <stdint.h>

/* READY=1 with a STATUS= line (status borrowed; NULL: none). */
void service_ready(const char *status);
/* RELOADING=1 (with MONOTONIC_USEC=, as Type=notify-reload wants). */
void service_reloading(void);
/* STOPPING=1. */
void service_stopping(void);
/* STATUS=..., a short summary for `systemctl status`. */
void service_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* WATCHDOG=1 when systemd wants one (WATCHDOG_USEC), at most every half
 * interval: call it from the main loop. now_ms: a monotonic clock. */
void service_watchdog(int64_t now_ms);

#endif

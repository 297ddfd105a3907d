/* One line per event on stderr: "<time> LEVEL component: message". */
#ifndef CORRAL_LOG_H
#define CORRAL_LOG_H

#include <stdarg.h>

#include <corral/host.h>

void log_set_level(int level);
int log_level(void);
/* Parses "error", "warn", "info" or "debug"; returns the level or -1. */
int log_parse_level(const char *name);
void log_msg(int level, const char *component, const char *fmt, ...) CORRAL_PRINTF(3, 4);
void log_vmsg(int level, const char *component, const char *fmt, va_list ap);

#define log_error(comp, ...) log_msg(CORRAL_LOG_ERROR, comp, __VA_ARGS__)
#define log_warn(comp, ...) log_msg(CORRAL_LOG_WARN, comp, __VA_ARGS__)
#define log_info(comp, ...) log_msg(CORRAL_LOG_INFO, comp, __VA_ARGS__)
#define log_debug(comp, ...)                                                                  \
    do {                                                                                      \
        if (log_level() >= CORRAL_LOG_DEBUG)                                                  \
            log_msg(CORRAL_LOG_DEBUG, comp, __VA_ARGS__);                                     \
    } while (0)

#endif

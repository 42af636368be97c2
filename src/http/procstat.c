/*
 * procstat.c - read the process_* figures from /proc (see procstat.h).
 *
 * /proc/self/stat's second field is the command name in parentheses, and it
 * may hold spaces and ')' itself: fields are counted from the LAST ')'.
 */
#include "http/procstat.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static cdc_rc
procstat_slurp(const char *path, char *buf, size_t n, struct cdc_err *err)
{
    FILE *f = fopen(path, "r");
    size_t got;

    if (f == NULL)
        return cdc_err_set(err, CDC_ERR_IO, "could not open \"%s\": %s", path, strerror(errno));
    got = fread(buf, 1, n - 1, f);
    buf[got] = '\0';
    fclose(f);
    return CDC_OK;
}

static cdc_rc
procstat_boot_time(double *out, struct cdc_err *err)
{
    char buf[8192];
    const char *p;
    cdc_rc rc = procstat_slurp("/proc/stat", buf, sizeof buf, err);

    if (rc != CDC_OK)
        return rc;
    p = strstr(buf, "\nbtime ");
    if (p == NULL)
        return cdc_err_set(err, CDC_ERR_PROTO, "no btime line in \"/proc/stat\"");
    *out = (double) strtoull(p + 7, NULL, 10);
    return CDC_OK;
}

/* Parse fields 14 (utime) .. 24 (rss) of /proc/self/stat. */
static cdc_rc
procstat_parse_stat(const char *buf, struct procstat *ps, double *start_ticks, struct cdc_err *err)
{
    unsigned long long utime, stime, start, vsize;
    long long rss;
    const char *p = strrchr(buf, ')');
    long page = sysconf(_SC_PAGESIZE);
    long hz = sysconf(_SC_CLK_TCK);

    /* After ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt(13)
     * utime(14) stime(15) cutime cstime priority nice threads itrealvalue(21) starttime(22)
     * vsize(23) rss(24) */
    if (p == NULL || page <= 0 || hz <= 0 ||
        sscanf(p + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
               "%*d %llu %llu %lld",
               &utime, &stime, &start, &vsize, &rss) != 5)
        return cdc_err_set(err, CDC_ERR_PROTO, "could not parse \"/proc/self/stat\"");
    ps->cpu_seconds = (double) (utime + stime) / (double) hz;
    ps->vsize_bytes = vsize;
    ps->rss_bytes = rss > 0 ? (uint64_t) rss * (uint64_t) page : 0;
    *start_ticks = (double) start / (double) hz;
    return CDC_OK;
}

static cdc_rc
procstat_count_fds(int64_t *out, struct cdc_err *err)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int64_t n = 0;

    if (d == NULL)
        return cdc_err_set(err, CDC_ERR_IO, "could not open \"/proc/self/fd\": %s",
                           strerror(errno));
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    /* The directory stream itself held one descriptor while we counted. */
    *out = n > 0 ? n - 1 : 0;
    return CDC_OK;
}

cdc_rc
procstat_read(struct procstat *ps, struct cdc_err *err)
{
    char buf[1024];
    double start_ticks = 0, boot = 0;
    struct rlimit rl;
    cdc_rc rc;

    memset(ps, 0, sizeof *ps);
    if ((rc = procstat_slurp("/proc/self/stat", buf, sizeof buf, err)) != CDC_OK ||
        (rc = procstat_parse_stat(buf, ps, &start_ticks, err)) != CDC_OK ||
        (rc = procstat_boot_time(&boot, err)) != CDC_OK ||
        (rc = procstat_count_fds(&ps->open_fds, err)) != CDC_OK)
        return rc;
    ps->start_time = boot + start_ticks;
    ps->max_fds = -1;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        ps->max_fds = (int64_t) rl.rlim_cur;
    return CDC_OK;
}

cdc_rc
procstat_rss_bytes(uint64_t *out, struct cdc_err *err)
{
    char buf[256];
    unsigned long long size, resident;
    long page = sysconf(_SC_PAGESIZE);
    cdc_rc rc = procstat_slurp("/proc/self/statm", buf, sizeof buf, err);

    if (rc != CDC_OK)
        return rc;
    /* statm: size resident shared text lib data dt, in pages */
    if (page <= 0 || sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return cdc_err_set(err, CDC_ERR_PROTO, "could not parse \"/proc/self/statm\"");
    *out = (uint64_t) resident * (uint64_t) page;
    return CDC_OK;
}

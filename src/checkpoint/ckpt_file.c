/*
 * ckpt_file.c - the file checkpoint backend.
 *
 * A save writes PATH.tmp, fsyncs it, renames it over PATH and fsyncs the
 * directory, so after a crash at any moment PATH holds either the old record
 * or the new one, never a torn mix (the rename is atomic; the fsyncs make it
 * durable in that order).
 */
#include "checkpoint/ckpt_store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ckpt_file {
    char path[PATH_MAX];
    char tmp[PATH_MAX + 8];
    char dir[PATH_MAX];
};

static cdc_rc
file_read(struct ckpt_store *s, char *buf, size_t cap, size_t *len, struct cdc_err *err)
{
    struct ckpt_file *f = s->impl;
    ssize_t n;
    int fd;

    *len = 0;
    fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return CDC_OK;
        return cdc_err_set(err, CDC_ERR_IO, "could not open checkpoint \"%s\": %s", f->path,
                           strerror(errno));
    }
    n = read(fd, buf, cap - 1);
    if (n < 0) {
        int e = errno;

        close(fd);
        return cdc_err_set(err, CDC_ERR_IO, "could not read checkpoint \"%s\": %s", f->path,
                           strerror(e));
    }
    close(fd);
    if ((size_t) n == cap - 1)
        return cdc_err_set(err, CDC_ERR_FATAL, "checkpoint \"%s\" is larger than %zu bytes",
                           f->path, cap - 1);
    buf[n] = '\0';
    /* an empty file is a corrupt record, not a missing one: report it as such */
    *len = n == 0 ? 1 : (size_t) n;
    return CDC_OK;
}

static cdc_rc
write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return CDC_ERR_IO;
        }
        p += n;
        len -= (size_t) n;
    }
    return CDC_OK;
}

static cdc_rc
fsync_dir(const char *dir, struct cdc_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return cdc_err_set(err, CDC_ERR_IO, "could not open directory \"%s\": %s", dir,
                           strerror(errno));
    if (fsync(fd) != 0) {
        int e = errno;

        close(fd);
        return cdc_err_set(err, CDC_ERR_IO, "could not fsync directory \"%s\": %s", dir,
                           strerror(e));
    }
    close(fd);
    return CDC_OK;
}

static cdc_rc
file_write(struct ckpt_store *s, const char *text, size_t len, struct cdc_err *err)
{
    struct ckpt_file *f = s->impl;
    int fd, e;

    fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return cdc_err_set(err, CDC_ERR_IO, "could not create \"%s\": %s", f->tmp, strerror(errno));
    if (write_all(fd, text, len) != CDC_OK || fsync(fd) != 0) {
        e = errno;
        close(fd);
        unlink(f->tmp);
        return cdc_err_set(err, CDC_ERR_IO, "could not write \"%s\": %s", f->tmp, strerror(e));
    }
    if (close(fd) != 0) {
        e = errno;
        unlink(f->tmp);
        return cdc_err_set(err, CDC_ERR_IO, "could not close \"%s\": %s", f->tmp, strerror(e));
    }
    if (rename(f->tmp, f->path) != 0) {
        e = errno;
        unlink(f->tmp);
        return cdc_err_set(err, CDC_ERR_IO, "could not rename \"%s\" to \"%s\": %s", f->tmp,
                           f->path, strerror(e));
    }
    return fsync_dir(f->dir, err);
}

static void
file_close(struct ckpt_store *s)
{
    free(s->impl);
}

static const struct ckpt_ops file_ops = {file_read, file_write, file_close};

cdc_rc
ckpt_file_open(struct ckpt_store *s, const char *path, struct cdc_err *err)
{
    struct ckpt_file *f;
    char copy[PATH_MAX];

    if (path[0] == '\0' || strlen(path) >= PATH_MAX)
        return cdc_err_set(err, CDC_ERR_CONFIG, "checkpoint file path is empty or too long");
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    snprintf(f->path, sizeof(f->path), "%s", path);
    snprintf(f->tmp, sizeof(f->tmp), "%s.tmp", path);
    snprintf(copy, sizeof(copy), "%s", path);
    snprintf(f->dir, sizeof(f->dir), "%s", dirname(copy));
    s->ops = &file_ops;
    s->impl = f;
    snprintf(s->desc, sizeof(s->desc), "file:%.*s", (int) sizeof(s->desc) - 8, f->path);
    return CDC_OK;
}

/*
 * xhal/plugin/xhal_file.h - open an input file only when it is a regular file; header-only, shared by the
 * core (plugins, topology XML, safetensors), the plugins (kernel cache), the conformance suite
 * (cases.json, .npy), the model port (config.json, weights) and the tools.
 *
 * Why: open() of a FIFO blocks until a writer appears, and read() of a FIFO, a character device
 * or a socket may block forever or never end; a FIFO put in place of a model file, a plugin or
 * XHAL_TOPOLOGY_XML hung every tool. The file is opened with O_NONBLOCK (which makes open() of
 * a FIFO return at once), checked with fstat() on the descriptor (no check/use race), refused
 * unless it is a regular file, and switched back to blocking mode.
 *
 * Needs POSIX.1-2008 (define _POSIX_C_SOURCE 200809L or _GNU_SOURCE before any include).
 */
#ifndef XHAL_FILE_H
#define XHAL_FILE_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What kind of file a mode names, for messages ("a FIFO"). */
static inline const char *xhal_file_kind(mode_t m)
{
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISLNK(m)) return "a symbolic link";
    return "not a regular file";
}

/* Opens path read-only (plus extra_flags, e.g. O_NOFOLLOW) if it is a regular file. Returns the
 * descriptor (close-on-exec, blocking), and its stat in *st when st is not NULL; or -1 with errno
 * set and a reason in why ("is a FIFO, not a regular file", "No such file or directory"). */
static inline int xhal_open_regular(const char *path, int extra_flags, struct stat *st, char *why, size_t why_len)
{
    struct stat s;
    if (why && why_len) why[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | extra_flags);
    if (fd < 0) {
        int e = errno;
        if (why && why_len) snprintf(why, why_len, "%s", strerror(e));
        errno = e;
        return -1;
    }
    if (fstat(fd, &s) != 0) {
        int e = errno;
        if (why && why_len) snprintf(why, why_len, "cannot stat: %s", strerror(e));
        close(fd);
        errno = e;
        return -1;
    }
    if (!S_ISREG(s.st_mode)) {
        if (why && why_len) snprintf(why, why_len, "is %s, not a regular file", xhal_file_kind(s.st_mode));
        close(fd);
        errno = S_ISDIR(s.st_mode) ? EISDIR : EINVAL;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (st) *st = s;
    return fd;
}

/* The same as a stdio stream ("rb"); NULL with errno and why set. */
static inline FILE *xhal_fopen_regular(const char *path, char *why, size_t why_len)
{
    int fd = xhal_open_regular(path, 0, NULL, why, why_len);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        if (why && why_len) snprintf(why, why_len, "%s", strerror(e));
        close(fd);
        errno = e;
    }
    return f;
}

#endif

/* fs: file-system helpers with no policy of their own. */
#ifndef BDS_FS_H
#define BDS_FS_H

#include <stddef.h>
#include <sys/types.h>

/* Removes path and everything under it, without following symlinks; directories left
 * read-only (Bazel's output bases have them) are made writable first. Best effort:
 * whatever cannot be removed stays. */
void bds_fs_remove_tree(const char *path);

/* mkdir -p: creates path and its missing parents with `mode` (less the umask). An
 * existing component that is not a directory is an error. 0, or -1 (error recorded,
 * naming the component). */
int bds_fs_mkdirs(const char *path, mode_t mode);

/* "a FIFO", "a directory", "a socket", ... for messages about a file of the wrong kind. */
const char *bds_fs_kind(mode_t mode);

/* Opens `path` for reading only if it is a regular file: a FIFO, device, socket or
 * directory (or, with `nofollow`, a symbolic link) is refused without blocking in open()
 * and without a device's open side effects. Returns the descriptor (blocking,
 * close-on-exec), -1 when it cannot be opened (errno kept: ENOENT is "absent"), or -2
 * when it is not a regular file; the error is recorded, naming the path. */
int bds_fs_open_regular(const char *path, int nofollow);

/* bds_util_read_file for a regular file only (see bds_fs_open_regular). 0, -1 or -2. */
int bds_fs_read_regular(const char *path, size_t limit, char **out, size_t *len);

/* Opens `path` for reading as a file the caller named (an operand, an option's file): a
 * regular file, a device, or a FIFO or pipe such as `<(...)`. Never waits for a FIFO's
 * writer to appear: one that has neither data nor a writer when opened (a named FIFO
 * nobody writes, a pipe whose writer left without writing) is refused at once. A live
 * writer is waited on as standard input would be. Returns the descriptor (blocking,
 * close-on-exec), -1 when it cannot be opened (errno kept), or -2 when refused; the error
 * is recorded, naming the path. A directory opens (reading it fails with EISDIR). */
int bds_fs_open_input(const char *path);

#endif

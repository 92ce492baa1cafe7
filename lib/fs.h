/* fs: file-system helpers with no policy of their own. */
#ifndef BDS_FS_H
#define BDS_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Removes path and everything under it, without following symlinks; directories left
 * read-only (Bazel's output bases have them) are made writable first. Best effort:
 * whatever cannot be removed stays. */
void bds_fs_remove_tree(const char *path);

/* mkdir -p: creates path and its missing parents with `mode` (less the umask). An
 * existing component that is not a directory is an error. 0, or -1 (error recorded,
 * naming the component). */
int bds_fs_mkdirs(const char *path, mode_t mode);

/* The hidden sibling a directory is renamed to on its way out: "<parent>/.old-<name>-XXXXXX".
 * One left by a killed process is for its owner's sweep (lock.h) to remove. */
#define BDS_FS_OLD_PREFIX ".old-"

/* Takes directory `dir` away in one rename, to a new hidden sibling (BDS_FS_OLD_PREFIX)
 * whose malloc'd path goes to *old: readers see the whole directory or nothing. The
 * caller deletes *old (bds_fs_remove_tree, slow: after any lock) and frees it, whatever
 * the result. 0 taken away, 1 `dir` was absent, -1 error recorded (errno kept). */
int bds_fs_rename_away(const char *dir, char **old);

/* Puts directory `tmp` at `final` atomically, replacing (and deleting) what was there.
 * 0, or -1 (recorded; `tmp` is the caller's to remove). */
int bds_fs_replace_dir(const char *tmp, const char *final);

/* Writes n bytes at offset `off` of fd, leaving the all-zero 4 KiB blocks (counted from
 * buf) unwritten: holes, in a file that is extended to its size afterwards. 0, or -1
 * (errno set, nothing recorded: the caller names the file). */
int bds_fs_write_sparse(int fd, const char *buf, size_t n, uint64_t off);

/* Writes buf (n bytes) as the new file `path` (it must not exist; mode 0666 less the
 * umask), all-zero 4 KiB blocks as holes, synced when `sync`. 0, or -1 (recorded, naming
 * the path; nothing is left at it). */
int bds_fs_write_new(const char *path, const char *buf, size_t n, int sync);

/* Reads fd from its start to its size, skipping its holes (SEEK_DATA/SEEK_HOLE where the
 * file system has them): `data` gets the bytes in chunks, `hole` the length of each hole.
 * A file that shrinks meanwhile ends early. `what` names fd in errors. 0, -1 (error
 * recorded), or what a callback returned when it was not 0. */
int bds_fs_read_sparse(int fd, const char *what, int (*data)(void *arg, const char *buf, size_t n),
                       int (*hole)(void *arg, uint64_t n), void *arg);

/* cp --reflink=auto --sparse=always from to: a clone where the file system can make one,
 * else a copy with the source's holes and all-zero blocks left as holes. `from` must be a
 * regular file (symbolic links followed); `to` is created with from's permission bits less
 * the umask, or truncated, keeping its mode. A copy still running at `deadline`
 * (bds_util_now() seconds; <= 0: none) stops there, as a `cp` killed at it did. A copy
 * onto `from` itself is refused, as cp refuses it. 0, or -1 (recorded, naming the path;
 * `to` is removed, so no half-written copy is left). */
int bds_fs_copy_sparse(const char *from, const char *to, double deadline);

/* "a FIFO", "a directory", "a socket", ... for messages about a file of the wrong kind. */
const char *bds_fs_kind(mode_t mode);

/* Opens `path` for reading only if it is a regular file: a FIFO, device, socket or
 * directory (or, with `nofollow`, a symbolic link) is refused without blocking in open()
 * and without a device's open side effects. Returns the descriptor (blocking,
 * close-on-exec), -1 when it cannot be opened (errno kept: ENOENT is "absent"), or -2
 * when it is not a regular file; the error is recorded, naming the path. */
int bds_fs_open_regular(const char *path, int nofollow);

/* bds_util_read_fd for a path opened by bds_fs_open_input: a FIFO with no writer is
 * refused, never waited on. 0, or -1 (recorded). */
int bds_fs_read_file(const char *path, size_t limit, char **out, size_t *len);

/* bds_fs_read_file for a regular file only (see bds_fs_open_regular). 0, -1 or -2. */
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

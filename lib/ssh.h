/* ssh: one libssh2 session to a guest: readiness polling, pinned host key, ed25519 auth,
 * commands with both output streams and a deadline, atomic SFTP transfers. */
#ifndef BDS_SSH_H
#define BDS_SSH_H

#include "exec.h"

struct bds_ssh;

struct bds_ssh_guest {
	const char *host;
	int port;
	const char *user;
	const char *key;             /* private key file; ed25519, unencrypted */
	const char *host_key_sha256; /* hex SHA-256 of the raw host key blob */
};

/* Connects to the guest, retrying with a short backoff until it answers (TCP connect and
 * SSH banner) or `ready_deadline` passes; then checks the host key against the pin and
 * authenticates, bounded by `deadline`. Deadlines are bds_util_now() seconds, <= 0 none.
 * Returns the session, or NULL with the error recorded; `*unreachable` is set when the
 * guest never answered (every other failure, host key mismatch included, leaves it 0). */
struct bds_ssh *bds_ssh_connect(const struct bds_ssh_guest *guest, double ready_deadline, double deadline,
                                int *unreachable);

/* Runs `command` (a shell command line: see bds_ssh_quote_argv) and copies its stdout to
 * out_fd and its stderr to err_fd as they come. At `deadline` the remote process group is
 * killed and res->timed_out set. Returns 0 when the command ran (see `res`), -1 with the
 * error recorded when the session failed. */
int bds_ssh_exec(struct bds_ssh *s, const char *command, int out_fd, int err_fd, double deadline,
                 struct bds_exec_result *res);

/* SFTP copies, atomic on the receiving side (temporary name beside the target, then
 * rename); permission bits are kept. Returns 0 or -1 with the error recorded. */
int bds_ssh_put(struct bds_ssh *s, const char *local, const char *remote, double deadline);
int bds_ssh_get(struct bds_ssh *s, const char *remote, const char *local, double deadline);

/* Disconnects (bounded) and frees; accepts NULL. */
void bds_ssh_close(struct bds_ssh *s);

/* A POSIX shell command line that runs argv literally: every element single-quoted
 * (' becomes '\''). Malloc'd. */
char *bds_ssh_quote_argv(char *const argv[]);

#endif

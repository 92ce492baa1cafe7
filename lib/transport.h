/* transport: reaching the machine the envelope's vm names (the host's warm worktree for the
 * local driver, a guest over ssh for the VM drivers) to put files in, run one command and
 * get files back. */
#ifndef BDS_TRANSPORT_H
#define BDS_TRANSPORT_H

#include <jv.h>
#include <stddef.h>

#include "exec.h"

enum bds_transport_status {
	BDS_TRANSPORT_OK = 0,
	BDS_TRANSPORT_FAIL = -1, /* error recorded (the -1 of bds_util_fail) */
	BDS_TRANSPORT_COLD = 1,  /* the machine is not ours to use (lock lost, guest unreachable); reason recorded */
};

struct bds_transport;
struct bds_ssh;

/* One way to reach the machine. A relative path on the machine's side is the machine's:
 * relative to the worktree (local) or to the login directory (ssh). Deadlines are
 * bds_util_now() seconds. */
struct bds_transport_ops {
	const char *name;
	/* Copies host file `local` to `remote`, atomic on the receiving side, permission bits
	 * kept. 0, or -1 (error recorded). */
	int (*put)(struct bds_transport *t, const char *local, const char *remote, double deadline);
	/* Runs argv on the machine (see bds_exec_run): its stdout to out_fd, its stderr to
	 * err_fd. OK when the command ran, whatever its status (see res); COLD when the
	 * machine was lost before it started. */
	enum bds_transport_status (*exec)(struct bds_transport *t, char *const argv[], int out_fd, int err_fd,
	                                  double deadline, struct bds_exec_result *res);
	/* The other way round: machine file `remote` to host file `local`. */
	int (*get)(struct bds_transport *t, const char *remote, const char *local, double deadline);
	/* Ends the session; NULL when there is none to end. */
	void (*close)(struct bds_transport *t);
};

struct bds_transport {
	const struct bds_transport_ops *ops;
	/* where commands run: local, the warm worktree; ssh, the guest's workspace (NULL:
	 * the login directory) */
	char *dir;
	/* local: the lock the worktree's keeper holds (NULL: none to check) */
	char *lock;
	long keeper;
	/* ssh: the session */
	struct bds_ssh *session;
};

/* Opens the transport the vm object names, consuming it: ssh to vm.guest when it has one,
 * otherwise local in vm.worktree, where commands run only while the keeper vm.keeper_pid
 * still holds the lock vm.lock (when the vm names them). The ssh connection waits up to
 * ready_timeout seconds for the guest to answer, and timeout seconds in all. COLD: the
 * lock is no longer held, or the guest never answered. */
enum bds_transport_status bds_transport_open(jv vm, double ready_timeout, double timeout,
                                             struct bds_transport **out);

/* A file to move: --put host file `from` to machine path `to`; --get the other way. */
struct bds_transport_file {
	char *from, *to;
};

/* One command and the files it needs and leaves. */
struct bds_transport_job {
	char **argv;
	const struct bds_transport_file *puts, *gets;
	size_t nputs, ngets;
	const char *stdout_path; /* the command's stdout; NULL: err_fd gets it too */
	int err_fd;              /* the command's stderr */
	double timeout;          /* seconds each step (a transfer, the command) may take */
};

/* Puts the files in, runs the command, and only when it succeeded gets the files back and
 * puts stdout_path in place (atomically). OK: the command ran, *res says how (after a
 * failed one nothing was got back, stdout_path not written); FAIL: a step failed (error
 * recorded, naming the file of a failed transfer); COLD: as the exec op. */
enum bds_transport_status bds_transport_run(struct bds_transport *t, const struct bds_transport_job *job,
                                            struct bds_exec_result *res);

/* Ends the session (bounded) and frees; accepts NULL. Records no error: the one a failed
 * open or run recorded is still there afterwards. */
void bds_transport_close(struct bds_transport *t);

#endif

/* qmp: a client for QEMU's machine protocol (QMP) on a unix socket: one JSON object per
 * line each way; asynchronous events are skipped. */
#ifndef BDS_QMP_H
#define BDS_QMP_H

#include <jv.h>

struct bds_qmp;

/* Connects to the QMP socket at `path` (retrying until it accepts, or `deadline`, or
 * process `pid` (when > 0) exits) and negotiates capabilities. NULL: error recorded. */
struct bds_qmp *bds_qmp_open(const char *path, long pid, double deadline);

/* Runs `command` with `args` (consumed; jv_null() for none). 0 and *ret (when not NULL)
 * set to its "return" value, or -1 with QEMU's error (or a timeout) recorded. */
int bds_qmp_run(struct bds_qmp *q, const char *command, jv args, double deadline, jv *ret);

void bds_qmp_close(struct bds_qmp *q);

#endif

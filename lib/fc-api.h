/* fc-api: Firecracker's REST API over its unix socket (libcurl). */
#ifndef BDS_FC_API_H
#define BDS_FC_API_H

#include <jv.h>

struct bds_fc_api;

/* A client for the API socket at `socket_path`; NULL with the error recorded. */
struct bds_fc_api *bds_fc_api_open(const char *socket_path);

/* One request. body: JSON to send (consumed), or jv_null() for none. deadline: absolute
 * (bds_util_now() based). 0 on a 2xx answer, and *reply (when not NULL) receives the parsed
 * JSON body or jv_null() when empty. Otherwise -1 with the error recorded (bds_util_fail),
 * e.g. "firecracker API: PUT /snapshot/load: HTTP 400: <fault_message>", or the transport
 * error, or "firecracker API: PUT /x: no answer within Ns". */
int bds_fc_api_call(struct bds_fc_api *api, const char *method, const char *path, jv body,
                    double deadline, jv *reply);

/* Waits until the socket accepts connections; -1 (recorded) at the deadline or as soon as
 * process `pid` (when > 0) has exited. */
int bds_fc_api_wait(const char *socket_path, long pid, double deadline);

void bds_fc_api_close(struct bds_fc_api *api);

#endif

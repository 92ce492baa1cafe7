/* fc-api-test: drives lib/fc-api for tests/fc-api.bats, one client per run.
 *
 *   fc-api-test [-t MAX] call SOCK TIMEOUT METHOD PATH BODY [METHOD PATH BODY]...
 *   fc-api-test [-t MAX] wait SOCK PID|zombie TIMEOUT
 *   fc-api-test open SOCK
 *
 * call sends each request on the same client, each with a deadline TIMEOUT seconds ahead,
 * and prints "METHOD PATH -> 0 <reply>" or "METHOD PATH -> -1 <error>". BODY is JSON text,
 * "-" for none, or "big:N" for {"data":"aaa..."} of N bytes. wait's "zombie" is a child
 * that has exited and is not reaped yet. Exit 0 when everything succeeded, 1 when a call
 * failed, 3 when the run took longer than MAX seconds, 64 on usage errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fc-api.h"
#include "json.h"
#include "util.h"

static jv make_body(const char *arg)
{
	if (strcmp(arg, "-") == 0)
		return jv_null();
	if (strncmp(arg, "big:", 4) == 0) {
		size_t n = strtoul(arg + 4, NULL, 10), overhead = strlen("{\"data\":\"\"}");
		size_t len = n > overhead ? n - overhead : 0;
		char *s = bds_util_xmalloc(len + 1);
		memset(s, 'a', len);
		s[len] = '\0';
		jv body = jv_object_set(jv_object(), jv_string("data"), jv_string(s));
		free(s);
		return body;
	}
	return bds_json_parse(arg, strlen(arg), "BODY");
}

static int run_calls(const char *sock, double timeout, char **req, int n)
{
	struct bds_fc_api *api = bds_fc_api_open(sock);
	if (!api) {
		printf("open -> -1 %s\n", bds_util_error());
		return 1;
	}
	int status = 0;
	for (int i = 0; i + 2 < n; i += 3) {
		jv reply = jv_invalid();
		int rc = bds_fc_api_call(api, req[i], req[i + 1], make_body(req[i + 2]), bds_util_now() + timeout,
		                         &reply);
		if (rc == 0) {
			char *line = bds_json_dump_line(reply);
			printf("%s %s -> 0 %s\n", req[i], req[i + 1], line);
			free(line);
		} else {
			jv_free(reply);
			printf("%s %s -> -1 %s\n", req[i], req[i + 1], bds_util_error());
			status = 1;
		}
	}
	bds_fc_api_close(api);
	return status;
}

static int run_wait(const char *sock, const char *pid_arg, double timeout)
{
	pid_t zombie = -1;
	long pid = strtol(pid_arg, NULL, 10);
	if (strcmp(pid_arg, "zombie") == 0) {
		if ((zombie = fork()) == 0)
			_exit(0);
		/* make sure it has exited before asking: a live child is not the case under test */
		siginfo_t si;
		waitid(P_PID, (id_t)zombie, &si, WEXITED | WNOWAIT);
		pid = zombie;
	}
	int rc = bds_fc_api_wait(sock, pid, bds_util_now() + timeout);
	if (rc == 0)
		printf("wait -> 0\n");
	else
		printf("wait -> -1 %s\n", bds_util_error());
	if (zombie > 0)
		waitpid(zombie, NULL, 0);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	double max = 0, start = bds_util_now();
	int status;
	if (argc > 2 && strcmp(argv[1], "-t") == 0) {
		max = atof(argv[2]);
		argc -= 2;
		argv += 2;
	}
	if (argc >= 7 && (argc - 4) % 3 == 0 && strcmp(argv[1], "call") == 0) {
		status = run_calls(argv[2], atof(argv[3]), argv + 4, argc - 4);
	} else if (argc == 5 && strcmp(argv[1], "wait") == 0) {
		status = run_wait(argv[2], argv[3], atof(argv[4]));
	} else if (argc == 3 && strcmp(argv[1], "open") == 0) {
		struct bds_fc_api *api = bds_fc_api_open(argv[2]);
		printf("open -> %s\n", api ? "0" : bds_util_error());
		status = api ? 0 : 1;
		bds_fc_api_close(api);
	} else {
		fprintf(stderr, "usage: fc-api-test [-t MAX] call SOCK TIMEOUT METHOD PATH BODY...\n"
		                "       fc-api-test [-t MAX] wait SOCK PID|zombie TIMEOUT\n"
		                "       fc-api-test open SOCK\n");
		return 64;
	}
	double took = bds_util_now() - start;
	if (max > 0 && took > max) {
		printf("too slow: %.2fs, limit %gs\n", took, max);
		status = 3;
	}
	if (bds_util_close_stdout() < 0)
		return 1;
	return status;
}

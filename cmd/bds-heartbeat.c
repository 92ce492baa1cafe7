/* bds-heartbeat: a script's "still working" line on stderr every few seconds during one
 * long phase, with Bazel's latest progress line, so CI no-output watchdogs see a live job. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

static const char usage_text[] =
	"usage: bds-heartbeat [--interval SEC] [--progress FILE] PROG PHASE\n"
	"       every SEC (default 8) seconds until its parent exits or it is killed, prints\n"
	"       'PROG: heartbeat: PHASE Ns' on stderr, with ' | ' and the last progress line of FILE\n";

#define DEFAULT_INTERVAL 8.0
#define MAX_INTERVAL 3600.0
/* how often the parent is checked: a parent killed with SIGKILL is noticed this soon */
#define TICK_MS 250L
/* only the end of FILE is read: Bazel's newest progress line is there */
#define TAIL_BYTES 8192
/* a progress line is cut to this many bytes: one heartbeat stays one short line */
#define LINE_MAX_BYTES 160
#define NAME_MAX_BYTES 64

struct opts {
	double interval;
	const char *progress;
	const char *prog;
	const char *phase;
};

/* A name printed in every line: short, printable, no line break. */
static int valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > NAME_MAX_BYTES)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* 0 to proceed, -1 after --help, else an exit status. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{"interval", required_argument, NULL, 'i'},
		{"progress", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (bds_util_parse_decimal(optarg, MAX_INTERVAL, &o->interval) < 0 || o->interval < 0.05)
				return bds_cli_usage(usage_text, "--interval takes seconds from 0.05 to 3600");
			break;
		case 'p': o->progress = optarg; break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: bds_cli_bad_option(argv, "+h", opts); return bds_cli_usage(usage_text, NULL);
		}
	}
	if (argc - optind != 2)
		return bds_cli_usage(usage_text, "PROG and PHASE are required");
	o->prog = argv[optind];
	o->phase = argv[optind + 1];
	if (!valid_name(o->prog) || !valid_name(o->phase))
		return bds_cli_usage(usage_text, "PROG and PHASE are 1 to 64 printable characters");
	return 0;
}

/* The progress part of one line, or NULL: a Bazel progress line whole ("Loading: 12
 * packages loaded"), or what follows " | " in a heartbeat of a stage this phase runs
 * (the stage's stderr is FILE), so Bazel's progress reaches the outermost script. */
static const char *progress_of(const char *line)
{
	static const char *const bazel[] = {"Loading:", "Analyzing:", "Computing main repo mapping:", "Fetching ",
					     "Building ", "Starting local Bazel server"};
	for (size_t i = 0; i < sizeof bazel / sizeof bazel[0]; i++)
		if (strncmp(line, bazel[i], strlen(bazel[i])) == 0)
			return line;
	if (strstr(line, ": heartbeat: ")) {
		const char *bar = strstr(line, " | ");
		return bar ? bar + 3 : NULL;
	}
	return NULL;
}

/* The newest progress line in the last TAIL_BYTES of path into buf (empty if none, or if
 * the file cannot be read: a heartbeat never fails for want of progress). */
static void last_progress(const char *path, char *buf, size_t size)
{
	char tail[TAIL_BYTES + 1];
	buf[0] = '\0';
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t start = end > TAIL_BYTES ? end - TAIL_BYTES : 0;
	ssize_t n = end < 0 ? -1 : pread(fd, tail, TAIL_BYTES, start);
	close(fd);
	if (n <= 0)
		return;
	tail[n] = '\0';
	/* a line cut by the tail's start is skipped */
	char *line = start > 0 ? strchr(tail, '\n') : tail;
	const char *found = NULL;
	while (line && *line) {
		if (*line == '\n')
			line++;
		char *eol = strchr(line, '\n');
		if (eol)
			*eol = '\0';
		/* a terminal's carriage return ends a line too: the text after the last one */
		char *cr = strrchr(line, '\r');
		const char *s = cr ? cr + 1 : line;
		const char *p = progress_of(s);
		if (p)
			found = p;
		line = eol ? eol + 1 : NULL;
	}
	if (!found)
		return;
	size_t len = strlen(found);
	if (len > LINE_MAX_BYTES)
		len = LINE_MAX_BYTES;
	if (len >= size)
		len = size - 1;
	memcpy(buf, found, len);
	buf[len] = '\0';
	for (char *q = buf; *q; q++)
		if ((unsigned char)*q < 0x20)
			*q = ' ';
}

/* One line every o->interval seconds until the parent is gone (exit 0) or stderr cannot
 * be written (exit 1). */
static int beat(const struct opts *o)
{
	/* the script that started this one: when it is gone (even SIGKILLed), so is this,
	 * within a tick, so no heartbeat holds the script's stderr pipe open for long */
	pid_t parent = getppid();
	double start = bds_util_now();
	long beats = 0;
	char progress[LINE_MAX_BYTES + 1];
	for (;;) {
		double next = start + o->interval * (double)(beats + 1);
		double now = bds_util_now();
		while (now < next) {
			if (getppid() != parent)
				return BDS_EXIT_OK;
			long ms = (long)((next - now) * 1000.0) + 1;
			bds_util_sleep_ms(ms < TICK_MS ? ms : TICK_MS);
			now = bds_util_now();
		}
		if (getppid() != parent)
			return BDS_EXIT_OK;
		beats++;
		progress[0] = '\0';
		if (o->progress)
			last_progress(o->progress, progress, sizeof progress);
		/* a failed write (the reader gone) ends the heartbeat, never the script */
		if (fprintf(stderr, "%s: heartbeat: %s %lds%s%s\n", o->prog, o->phase, (long)(now - start),
			    progress[0] ? " | " : "", progress) < 0)
			return BDS_EXIT_FAIL;
	}
}

int main(int argc, char **argv)
{
	bds_util_set_progname(argv[0]);
	if (bds_cli_wants_version(argc, argv))
		return bds_cli_print_version();
	struct opts o = {DEFAULT_INTERVAL, NULL, NULL, NULL};
	int r = parse_args(argc, argv, &o);
	if (r != 0)
		return r < 0 ? BDS_EXIT_OK : r;
	return beat(&o);
}

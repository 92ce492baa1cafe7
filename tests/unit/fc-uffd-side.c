/* fc-uffd-side: plays Firecracker's side of a snapshot restore with mem_backend "Uffd"
 * (docs/snapshotting/handling-page-faults-on-snapshot-resume.md), for real: it creates a
 * userfaultfd, maps guest memory anonymously as two regions apart from each other (as
 * Firecracker does around the x86 MMIO hole), registers them for missing-page faults,
 * connects to the handler's socket and sends, in one message, the regions as JSON
 * (base_host_virt_addr, size, offset, page_size and the deprecated page_size_kib, as
 * Firecracker 1.16 serializes them) with the userfaultfd (SCM_RIGHTS). Then it touches
 * guest pages as a guest would and compares each with the snapshot's memory file.
 *
 * usage: fc-uffd-side SOCKET MEMFILE all          every page, two threads, seeded order
 *        fc-uffd-side SOCKET MEMFILE pages OFF... the pages at those file offsets, in order
 *        fc-uffd-side SOCKET MEMFILE remove       16 pages touched, removed (MADV_DONTNEED,
 *                                                 as the balloon does), touched again: zeros
 *        fc-uffd-side SOCKET MEMFILE send JSON    sends JSON (with the userfaultfd) and waits
 *                                                 for the handler to close the connection
 *        fc-uffd-side SOCKET MEMFILE prefilled    page 2 filled by this side (0xAA) before
 *                                                 page 5 is touched: the handler's run meets it
 *        fc-uffd-side SOCKET MEMFILE remove-during OFF   pages 0-15 touched; a thread touches
 *                                                 OFF while, 0.1 s later, pages 0-15 are removed
 * With FC_SIDE_CLOSE_EARLY=1 the socket is closed right after the handshake, as Firecracker
 * before 1.11 did.
 * Prints "ok: N pages as in MEMFILE" (exit 0), or what differed (exit 1). With
 * FC_SIDE_HOLD=PATH it then keeps the connection (as a running VM would) until PATH exists,
 * at most 20 s. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define PAGE 4096UL

static int memfd;
static uint64_t memsize, half;
static unsigned char *region[2];

static void die(const char *what)
{
	fprintf(stderr, "fc-uffd-side: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The guest address of file offset off. */
static unsigned char *at(uint64_t off)
{
	return off < half ? region[0] + off : region[1] + (off - half);
}

/* Reads the guest page at file offset off (a fault the first time) and compares it with
 * `want` (NULL: the memory file's bytes). 0, or 1 (said). */
static int check_page(uint64_t off, const unsigned char *want)
{
	unsigned char file[PAGE];
	if (!want) {
		if (pread(memfd, file, PAGE, (off_t)off) != (ssize_t)PAGE)
			die("read MEMFILE");
		want = file;
	}
	if (memcmp(at(off), want, PAGE) != 0) {
		printf("page at file offset %llu differs from %s\n", (unsigned long long)off,
		       want == file ? "MEMFILE" : "zeros");
		return 1;
	}
	return 0;
}

struct walker {
	int id;
	int bad;
	uint64_t pages;
};

/* Every page of MEMFILE whose number is id modulo 2, in a seeded shuffled order. */
static void *walk(void *arg)
{
	struct walker *w = arg;
	uint64_t n = memsize / PAGE, mine = (n + 1 - (uint64_t)w->id) / 2;
	uint64_t *order = malloc((mine ? mine : 1) * sizeof *order);
	for (uint64_t i = 0; i < mine; i++)
		order[i] = 2 * i + (uint64_t)w->id;
	uint64_t x = 88172645463325252ULL + (uint64_t)w->id;
	for (uint64_t i = mine; i > 1; i--) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t j = x % i, t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	for (uint64_t i = 0; i < mine && !w->bad; i++, w->pages++)
		w->bad = check_page(order[i] * PAGE, NULL);
	free(order);
	return NULL;
}

/* remove-during: the page at far_off, touched by a thread of its own */
static uint64_t far_off;

static void *touch_far(void *arg)
{
	struct walker *w = arg;
	w->bad = check_page(far_off, NULL);
	return NULL;
}

/* Firecracker's half of the handshake: the userfaultfd and `json` in one message. */
static int connect_and_send(const char *path, int uffd, const char *json)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0)
		die("connect");
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(cbuf, 0, sizeof cbuf);
	struct iovec iov = {.iov_base = (void *)json, .iov_len = strlen(json)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &uffd, sizeof(int));
	if (sendmsg(s, &msg, 0) != (ssize_t)strlen(json))
		die("sendmsg");
	return s;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: fc-uffd-side SOCKET MEMFILE all|pages OFF...|remove|send JSON\n");
		return 64;
	}
	const char *mode = argv[3];
	struct stat st;
	if ((memfd = open(argv[2], O_RDONLY)) < 0 || fstat(memfd, &st) < 0)
		die("open MEMFILE");
	memsize = (uint64_t)st.st_size;
	half = memsize / 2 / PAGE * PAGE;
	if (memsize % PAGE || half == 0) {
		fprintf(stderr, "fc-uffd-side: MEMFILE must be a whole number of pages, at least 2\n");
		return 64;
	}
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		die("userfaultfd");
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_EVENT_REMOVE};
	if (ioctl(uffd, UFFDIO_API, &api) < 0)
		die("UFFDIO_API");
	/* two regions with a gap between them */
	unsigned char *space = mmap(NULL, memsize + 64 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (space == MAP_FAILED)
		die("mmap");
	region[0] = mmap(space, half, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	region[1] = mmap(space + half + 64 * PAGE, memsize - half, PROT_READ | PROT_WRITE,
	                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (region[0] == MAP_FAILED || region[1] == MAP_FAILED)
		die("mmap a region");
	uint64_t sizes[2] = {half, memsize - half};
	for (int i = 0; i < 2; i++) {
		struct uffdio_register r = {.range = {.start = (uint64_t)(uintptr_t)region[i], .len = sizes[i]},
		                            .mode = UFFDIO_REGISTER_MODE_MISSING};
		if (ioctl(uffd, UFFDIO_REGISTER, &r) < 0)
			die("UFFDIO_REGISTER");
	}
	char json[1024];
	if (strcmp(mode, "send") == 0 && argc == 5) {
		snprintf(json, sizeof json, "%s", argv[4]);
	} else {
		snprintf(json, sizeof json,
		         "[{\"base_host_virt_addr\":%llu,\"size\":%llu,\"offset\":0,\"page_size\":%lu,\"page_size_kib\":%lu},"
		         "{\"base_host_virt_addr\":%llu,\"size\":%llu,\"offset\":%llu,\"page_size\":%lu,\"page_size_kib\":%lu}]",
		         (unsigned long long)(uintptr_t)region[0], (unsigned long long)half, PAGE, PAGE,
		         (unsigned long long)(uintptr_t)region[1], (unsigned long long)(memsize - half),
		         (unsigned long long)half, PAGE, PAGE);
	}
	int s = connect_and_send(argv[1], uffd, json);
	const char *early = getenv("FC_SIDE_CLOSE_EARLY");
	if (early && strcmp(early, "1") == 0)
		close(s);
	int bad = 0;
	uint64_t pages = 0;
	if (strcmp(mode, "all") == 0) {
		struct walker w[2] = {{.id = 0}, {.id = 1}};
		pthread_t t[2];
		for (int i = 0; i < 2; i++)
			if (pthread_create(&t[i], NULL, walk, &w[i]) != 0)
				die("pthread_create");
		for (int i = 0; i < 2; i++) {
			pthread_join(t[i], NULL);
			bad |= w[i].bad;
			pages += w[i].pages;
		}
	} else if (strcmp(mode, "pages") == 0) {
		for (int i = 4; i < argc && !bad; i++, pages++) {
			uint64_t off = strtoull(argv[i], NULL, 10) / PAGE * PAGE;
			if (off >= memsize) {
				fprintf(stderr, "fc-uffd-side: offset %s is beyond MEMFILE\n", argv[i]);
				return 64;
			}
			bad = check_page(off, NULL);
		}
	} else if (strcmp(mode, "remove") == 0) {
		static const unsigned char zeros[PAGE];
		for (uint64_t i = 0; i < 16 && !bad; i++, pages++)
			bad = check_page(i * PAGE, NULL);
		if (madvise(region[0], 16 * PAGE, MADV_DONTNEED) < 0)
			die("madvise");
		for (uint64_t i = 0; i < 16 && !bad; i++, pages++)
			bad = check_page(i * PAGE, zeros);
	} else if (strcmp(mode, "prefilled") == 0) {
		static unsigned char aa[PAGE];
		memset(aa, 0xAA, sizeof aa);
		struct uffdio_copy c = {.dst = (uint64_t)(uintptr_t)(region[0] + 2 * PAGE), .src = (uint64_t)(uintptr_t)aa,
		                        .len = PAGE};
		if (ioctl(uffd, UFFDIO_COPY, &c) < 0)
			die("UFFDIO_COPY");
		bad = check_page(5 * PAGE, NULL) || check_page(2 * PAGE, aa) || check_page(0, NULL) ||
		      check_page(3 * PAGE, NULL);
		pages = 4;
	} else if (strcmp(mode, "remove-during") == 0 && argc == 5) {
		static const unsigned char zeros[PAGE];
		for (uint64_t i = 0; i < 16 && !bad; i++, pages++)
			bad = check_page(i * PAGE, NULL);
		struct walker far = {.id = -1};
		pthread_t t;
		far_off = strtoull(argv[4], NULL, 10) / PAGE * PAGE;
		if (pthread_create(&t, NULL, touch_far, &far) != 0)
			die("pthread_create");
		usleep(100000);
		if (madvise(region[0], 16 * PAGE, MADV_DONTNEED) < 0)
			die("madvise");
		pthread_join(t, NULL);
		bad |= far.bad;
		pages++;
		for (uint64_t i = 0; i < 16 && !bad; i++, pages++)
			bad = check_page(i * PAGE, zeros);
	} else if (strcmp(mode, "send") == 0) {
		/* the handler refuses the handshake: it closes the connection */
		char c;
		ssize_t r = read(s, &c, 1);
		printf("the handler closed the connection (%s)\n", r == 0 ? "end of file" : "error");
		return 0;
	} else {
		fprintf(stderr, "fc-uffd-side: unknown mode '%s'\n", mode);
		return 64;
	}
	if (bad)
		return 1;
	printf("ok: %llu pages as in MEMFILE\n", (unsigned long long)pages);
	fflush(stdout);
	const char *hold = getenv("FC_SIDE_HOLD");
	for (int i = 0; hold && *hold && i < 2000 && access(hold, F_OK) != 0; i++)
		usleep(10000);
	return 0;
}

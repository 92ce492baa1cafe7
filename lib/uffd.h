/* uffd: serving a Firecracker guest's memory faults (docs/store.md 4.3), by Firecracker's
 * documented handshake for mem_backend "Uffd": the userfaultfd registered over guest memory
 * and a JSON array of its regions, received in one message on a unix socket; then every
 * first touch of a guest page answered with UFFDIO_COPY of the snapshot's bytes. */
#ifndef BDS_UFFD_H
#define BDS_UFFD_H

#include <stddef.h>
#include <stdint.h>

struct bds_uffd;
struct bds_pagesrc;

/* What bds_uffd_serve comes to besides 0 (Firecracker ended) and -1 (recorded). */
#define BDS_UFFD_COLD 2 /* the snapshot's bytes could not be had (recorded) */

/* Waits for fd to be readable until `deadline` (bds_util_now's clock): 1, 0 (timed
 * out), -1 (recorded). */
int bds_uffd_wait_readable(int fd, double deadline);

/* Takes Firecracker's handshake on the connection `conn` for a memory file of `memsize`
 * bytes: the first descriptor it carries must be a userfaultfd (others are closed), and
 * every region {"base_host_virt_addr", "size", "offset", "page_size" (or the deprecated
 * "page_size_kib", in bytes)} must lie within the file, its page size (a power of two, at
 * least 4096) dividing its address, size and offset. NULL: recorded ("handshake: ..."). */
struct bds_uffd *bds_uffd_handshake(int conn, uint64_t memsize, double deadline);

/* Serves faults from the bytes of `memfd` (made present first through `src` when it is not
 * NULL: a lazy restore) until Firecracker's process ends (`peer`: its pidfd; -1: none, then
 * until the userfaultfd hangs up). 0; BDS_UFFD_COLD; -1 (recorded). */
int bds_uffd_serve(struct bds_uffd *u, int memfd, struct bds_pagesrc *src, int peer);

/* Faults served, bytes copied in, zero pages mapped (pages the balloon had removed). */
void bds_uffd_counts(const struct bds_uffd *u, uint64_t *faults, uint64_t *copied, uint64_t *zeroed);

/* Writes the offset in the memory file of each fault's page, in order, one a line. 0, or
 * -1 (recorded). */
int bds_uffd_write_working_set(const struct bds_uffd *u, const char *path);

/* Closes the userfaultfd and frees u (NULL: nothing). */
void bds_uffd_free(struct bds_uffd *u);

#endif

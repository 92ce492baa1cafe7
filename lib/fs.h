/* fs: file-system helpers with no policy of their own. */
#ifndef BDS_FS_H
#define BDS_FS_H

/* Removes path and everything under it, without following symlinks; directories left
 * read-only (Bazel's output bases have them) are made writable first. Best effort:
 * whatever cannot be removed stays. */
void bds_fs_remove_tree(const char *path);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-mesh's file node source: the node-list file (nodes_file.h) watched
 * with inotify on its directory, since editors and atomic writers (the
 * agents themselves) replace the file by rename and a watch on the file
 * would follow the old inode.
 */
#ifndef XWG_MESH_FILE_SOURCE_H
#define XWG_MESH_FILE_SOURCE_H

#include <limits.h>
#include <stdbool.h>

struct mesh_file_source {
	char path[PATH_MAX];
	char base[NAME_MAX + 1];
	int fd;    /* inotify, non-blocking */
};

/* Watch path's directory. 0 or -errno with a message in err. */
int mesh_file_source_open(struct mesh_file_source *fs, const char *path, char *err,
			  size_t errlen);
/* Drain pending events: true if one concerned the file (or events were
 * lost), so it should be read again. */
bool mesh_file_source_changed(struct mesh_file_source *fs);
void mesh_file_source_close(struct mesh_file_source *fs);

#endif

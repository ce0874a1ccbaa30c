// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: xwg-mesh's reader of xwgd's event stream
 * (mesh/event_parse.c, the line splitter of mesh/event_client.c and the
 * counts of mesh/event_counts.c): the input as one line, then as a stream
 * fed in two pieces.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/event_client.h"
#include "mesh/event_counts.h"
#include "mesh/event_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mesh_event_client c;
	struct mesh_event_counts *counts = mesh_event_counts_new(4);
	struct mesh_event ev;
	size_t half = size / 2;

	if (!counts)
		return 0;
	if (mesh_event_parse((const char *)data, size, &ev) == 0 &&
	    (ev.role >= MESH_EVENT_ROLES || ev.cause >= MESH_EVENT_CAUSES))
		abort();
	mesh_event_client_init(&c, "/nonexistent", "wg0", counts);
	if (!mesh_event_client_feed(&c, (const char *)data, half))
		mesh_event_client_feed(&c, (const char *)data + half, size - half);
	if (c.len > sizeof(c.buf) || counts->n_peers > counts->cap)
		abort();
	mesh_event_counts_free(counts);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for what the Kubernetes API server sends xwg-mesh: the
 * input is taken as a NodeList page, as one watch event, as a Status body,
 * and as a watch stream (split into lines in two pieces, each event applied
 * to a node set). Checks that nothing crashes and that the node set stays
 * sorted, unique and within its bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "mesh/k8s.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_set(const struct k8s_node_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		const struct mesh_node *n = &set->nodes[i];

		if (!n->name[0] || strlen(n->name) > MESH_NODE_NAME_MAX ||
		    n->n_addrs > MESH_NODE_MAX_ADDRS || n->n_cidrs > MESH_NODE_MAX_CIDRS ||
		    !n->port || (i && strcmp(set->nodes[i - 1].name, n->name) >= 0))
			abort();
	}
}

static int apply_line(void *ctx, const char *line, size_t len)
{
	struct k8s_node_set *set = ctx;
	struct k8s_event ev;
	char err[256];

	if (k8s_parse_watch_event(line, len, &ev, err, sizeof(err)))
		return 0;   /* keep going: more of the input gets exercised */
	if (ev.type == K8S_EVENT_ERROR && ev.code == 410)
		k8s_node_set_clear(set);   /* what a re-list starts with */
	return k8s_node_set_apply(set, &ev) < 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	const char *text = (const char *)data;
	char err[256], rv[K8S_RV_MAX], cont[K8S_CONTINUE_MAX], msg[64];
	struct k8s_node_set set = { 0 };
	struct k8s_lines lines = { .max = 4096 };
	struct k8s_event ev;

	if (!quiet) {
		log_set_level(LOG_LEVEL_SILENT);
		quiet = true;
	}
	if (k8s_parse_node_list(text, size, &set, rv, cont, err, sizeof(err)) == 0) {
		if (!rv[0])
			abort();
	}
	check_set(&set);
	k8s_parse_watch_event(text, size, &ev, err, sizeof(err));
	k8s_status_message(text, size, msg, sizeof(msg));
	if (strlen(msg) >= sizeof(msg))
		abort();

	k8s_node_set_clear(&set);
	if (k8s_lines_feed(&lines, text, size / 2, apply_line, &set) == 0)
		k8s_lines_feed(&lines, text + size / 2, size - size / 2, apply_line, &set);
	check_set(&set);
	k8s_lines_free(&lines);
	k8s_node_set_free(&set);
	return 0;
}

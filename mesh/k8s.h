/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-mesh's Kubernetes node source: list + watch of Node objects over
 * HTTPS (libcurl) with the pod's service-account token and CA, turned into
 * mesh_node snapshots (mesh/node.h) from spec.podCIDRs, status.addresses
 * (InternalIP) and the MESH_PUBKEY_ANNOTATION / MESH_PORT_ANNOTATION
 * annotations; and the PATCH that publishes this node's public key.
 */
#ifndef XWG_MESH_K8S_H
#define XWG_MESH_K8S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh/node.h"

struct k8s_options {
	char api_url[512];     /* https://host:port (no trailing slash) */
	char token_path[512];  /* bearer token file */
	char ca_path[512];     /* CA bundle for the API server */
	char node_name[MESH_NODE_NAME_MAX + 1];   /* this node */
};

/* Fill *o from the standard in-cluster environment and paths
 * (KUBERNETES_SERVICE_HOST/_PORT, /var/run/secrets/kubernetes.io/
 * serviceaccount/{token,ca.crt}) and NODE_NAME; -errno with a message in
 * err if something needed is missing. */
int k8s_options_from_env(struct k8s_options *o, char *err, size_t errlen);

struct k8s_source;

/* Start listing and watching in a thread of its own; cb gets a complete
 * snapshot after the initial list and after every event that changes it.
 * NULL with a message in err if the options are unusable. */
struct k8s_source *k8s_source_start(const struct k8s_options *o, mesh_nodes_cb cb,
				    void *ctx, char *err, size_t errlen);

/* PATCH this node's annotations with its public key and listen port
 * (synchronous, retried a few times); 0 or -errno with a message in err. */
int k8s_publish_key(struct k8s_source *s, const uint8_t public_key[32],
		    uint16_t port, char *err, size_t errlen);

/* Ends the thread wherever it waits (a transfer, a backoff, a silent watch)
 * and returns at once; no snapshot callback runs after it returns. Not to
 * be called while k8s_publish_key runs on s in another thread. */
void k8s_source_stop(struct k8s_source *s);

/*
 * The pieces of the source that are pure functions of their input, exposed
 * for the unit tests (tests/test_k8s.c) and the fuzz target
 * (tests/fuzz/k8s_json.c). None of them needs the network.
 */
struct json_object;

#define K8S_RV_MAX 128          /* longest resourceVersion we keep */
#define K8S_CONTINUE_MAX 2048   /* longest list continue token we keep */
#define K8S_LINE_MAX (1u << 20) /* longest watch event line (1 MiB) */

/* Turn one v1 Node object into *n: metadata.name (required), the public-key
 * and listen-port annotations, spec.podCIDRs (or spec.podCIDR) and the
 * InternalIP entries of status.addresses. A bad optional value is logged
 * (naming the node and the field) and left out; only an object without a
 * usable name is refused: -EINVAL with a message in err. */
int k8s_parse_node(struct json_object *obj, struct mesh_node *n, char *err, size_t errlen);

/* The nodes an agent currently knows, sorted by name, names unique. */
struct k8s_node_set {
	struct mesh_node *nodes;
	size_t n, cap;
};

/* Insert or replace by name: 1 if the set changed, 0 if the node was
 * already there as it is, -ENOMEM. */
int k8s_node_set_upsert(struct k8s_node_set *set, const struct mesh_node *node);
/* Remove by name: 1 if it was there, 0 if not. */
int k8s_node_set_remove(struct k8s_node_set *set, const char *name);
/* Same nodes with the same values. */
bool k8s_node_set_equal(const struct k8s_node_set *a, const struct k8s_node_set *b);
void k8s_node_set_clear(struct k8s_node_set *set);   /* empty, memory kept */
void k8s_node_set_free(struct k8s_node_set *set);

/* One page of GET /api/v1/nodes (a v1 NodeList): its nodes are upserted into
 * *set (items that are no usable Node are logged and skipped), its
 * metadata.resourceVersion copied to rv and metadata.continue to cont (""
 * on the last page). 0, or -EINVAL/-ENOMEM with a message in err. */
int k8s_parse_node_list(const char *body, size_t len, struct k8s_node_set *set,
			char rv[K8S_RV_MAX], char cont[K8S_CONTINUE_MAX],
			char *err, size_t errlen);

enum k8s_event_type {
	K8S_EVENT_ADDED,
	K8S_EVENT_MODIFIED,
	K8S_EVENT_DELETED,
	K8S_EVENT_BOOKMARK,
	K8S_EVENT_ERROR,
};

/* One line of a watch stream (a v1 WatchEvent). */
struct k8s_event {
	enum k8s_event_type type;
	struct mesh_node node;    /* ADDED, MODIFIED, DELETED */
	char rv[K8S_RV_MAX];      /* the object's resourceVersion ("" if none) */
	int code;                 /* ERROR: the Status code (410: re-list) */
	char message[256];        /* ERROR: the Status message */
};

/* 0, or with a message in err: -EINVAL for what is not JSON or not a
 * WatchEvent, -EOPNOTSUPP for an event type this source does not know,
 * -ENOENT for a Node event whose object is no usable Node (ev->type and
 * ev->rv are set then: the event can be skipped). */
int k8s_parse_watch_event(const char *line, size_t len, struct k8s_event *ev,
			  char *err, size_t errlen);

/* Apply an ADDED/MODIFIED/DELETED event to *set: 1 if it changed, 0 if not,
 * -ENOMEM; other types change nothing (0). */
int k8s_node_set_apply(struct k8s_node_set *set, const struct k8s_event *ev);

/* The message of a v1 Status body (an error response), or "" when the body
 * is none: at most len - 1 bytes into msg. */
void k8s_status_message(const char *body, size_t len, char *msg, size_t msglen);

/* Newline-delimited stream splitting: bytes arrive in arbitrary pieces, each
 * complete line (without its newline; empty lines skipped) goes to fn. */
struct k8s_lines {
	char *buf;
	size_t len, cap;
	size_t max;               /* longest line accepted (0: K8S_LINE_MAX) */
};

/* 0; -E2BIG once a line grows past max (the stream is then unusable);
 * -ENOMEM; or the first negative value fn returns. */
int k8s_lines_feed(struct k8s_lines *l, const char *data, size_t n,
		   int (*fn)(void *ctx, const char *line, size_t len), void *ctx);
void k8s_lines_free(struct k8s_lines *l);

#endif

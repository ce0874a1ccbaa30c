/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-cni: the two inputs a runtime gives a plugin (CNI spec 1.0.0,
 * "Parameters" and "Network configuration"): the CNI_* environment
 * variables, and the network configuration JSON on stdin.
 */
#ifndef XWG_CNI_CONFIG_H
#define XWG_CNI_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "cni/cni.h"

struct json_object;

enum cni_command {
	CNI_CMD_ADD,
	CNI_CMD_DEL,
	CNI_CMD_CHECK,
	CNI_CMD_VERSION,
};

/* Pointers into the environment (valid as long as it is unchanged). */
struct cni_env {
	enum cni_command command;
	const char *container_id;
	const char *netns;		/* NULL when not given (allowed for DEL) */
	const char *ifname;
	const char *path;		/* CNI_PATH: where delegated plugins are */
	const char *args;		/* CNI_ARGS, unused but passed on */
};

/* Read and check the variables command needs; lookup is getenv or a test's
 * table. On error code 4 with a message naming the variable. */
int cni_env_parse(struct cni_env *env, char *(*lookup)(const char *name),
		  struct cni_error *err);

#define CNI_DEFAULT_XWG_INTERFACE "xwg0"
#define CNI_DEFAULT_HOST_VETH_PREFIX "xwc"
/* Host veth names are PREFIX + 8 hex digits: the prefix gets what is left
 * of IFNAMSIZ. */
#define CNI_HOST_VETH_PREFIX_MAX (IFNAMSIZ - 1 - 8)
#define CNI_MTU_MIN 68
#define CNI_MTU_MAX 65535

struct cni_config {
	char version[8];		/* cniVersion, one of cni_versions */
	char ipam_type[64];		/* ipam.type: the plugin to delegate to */
	unsigned mtu;			/* 0: not configured */
	char xwg_interface[IFNAMSIZ];	/* whose MTU is the default */
	char host_veth_prefix[CNI_HOST_VETH_PREFIX_MAX + 1];
	struct json_object *root;	/* the whole document (owned) */
	struct json_object *prev_result; /* in root, or NULL */
	struct json_object *dns;	/* in root, or NULL */
};

/* Parse the network configuration. Errors: 6 for bytes that are not one
 * JSON object, 1 for a cniVersion not in cni_versions, 7 for anything else
 * wrong, each with a message saying which field and what to fix. On error
 * *cfg needs no free, but cfg->version is kept when it was read, so that the
 * error can be answered in that version. */
int cni_config_parse(struct cni_config *cfg, const char *data, size_t len,
		     struct cni_error *err);
void cni_config_free(struct cni_config *cfg);

/* Parse data as exactly one JSON object (strict: no trailing bytes);
 * NULL with code 6 in err otherwise. what names the input in messages. */
struct json_object *cni_json_parse(const char *data, size_t len,
				   const char *what, struct cni_error *err);

/* An interface name the kernel accepts: 1..15 bytes, no '/', ':' or
 * whitespace, not "." or "..". */
bool cni_ifname_is_valid(const char *name);

#endif

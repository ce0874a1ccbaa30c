// SPDX-License-Identifier: GPL-2.0
/*
 * xwg-cni: the CNI plugin (CNI spec 1.0.0) that gives each pod a veth pair
 * to the node, routed point-to-point (cni/pod.h), addresses from the IPAM
 * plugin the configuration names (cni/ipam.h). The node's routes, kept by
 * xwg-mesh, carry traffic to other nodes' pods through the xwg interface.
 *
 * The runtime's contract: CNI_* environment variables, the network
 * configuration on stdin, a result or an error as JSON on stdout, exit 0 on
 * success only.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cni/config.h"
#include "cni/ipam.h"
#include "cni/pod.h"
#include "cni/result.h"

/* Configurations with a long prevResult stay far below this. */
#define STDIN_MAX (16u << 20)

static int read_stdin(char **data, size_t *len, struct cni_error *err)
{
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap);

	if (!buf)
		return cni_error_set(err, CNI_ERR_IO, "out of memory", NULL);
	for (;;) {
		ssize_t n;

		if (used + 1 == cap) {
			char *bigger = cap < STDIN_MAX ? realloc(buf, cap * 2) : NULL;

			if (!bigger) {
				free(buf);
				return cni_error_set(err, CNI_ERR_IO,
						     "cannot read the network configuration",
						     "stdin holds more than %u bytes", STDIN_MAX);
			}
			buf = bigger;
			cap *= 2;
		}
		n = read(STDIN_FILENO, buf + used, cap - used - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			return cni_error_set(err, CNI_ERR_IO,
					     "cannot read the network configuration",
					     "stdin: %s", strerror(e));
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	*data = buf;
	*len = used;
	return 0;
}

static int print_owned(char *text)
{
	if (!text) {
		fputs("xwg-cni: out of memory\n", stderr);
		return -1;
	}
	puts(text);
	free(text);
	return fflush(stdout) ? -1 : 0;
}

struct invocation {
	const struct cni_env *env;
	const struct cni_config *cfg;
	const char *stdin_data;
	size_t stdin_len;
	struct cni_pod pod;
};

static int cmd_add(const struct invocation *in, struct cni_error *err)
{
	struct cni_result ipam, plan;
	struct json_object *obj;
	char *out = NULL;
	int r = -1;

	/* Before asking for an address: a missing namespace is code 3. */
	if (cni_pod_netns_check(in->env->netns, err))
		return -1;
	if (cni_ipam_exec(in->cfg->ipam_type, in->env->path, NULL,
			  in->stdin_data, in->stdin_len, &out, err))
		return -1;
	obj = cni_json_parse(out, strlen(out), "the IPAM plugin's result", err);
	free(out);
	if (!obj)
		goto release;
	r = cni_result_parse(&ipam, obj, err);
	json_object_put(obj);
	if (r)
		goto release;
	r = cni_pod_plan(&plan, &ipam, &in->pod, err);
	if (!r) {
		plan.dns = json_object_get(in->cfg->dns ? in->cfg->dns : ipam.dns);
		r = cni_pod_setup(&in->pod, &plan, err);
	}
	cni_result_free(&ipam);
	if (!r) {
		r = print_owned(cni_result_format(&plan, in->cfg->version));
		if (r) {
			cni_error_set(err, CNI_ERR_IO, "cannot write the result", NULL);
			cni_pod_teardown(&in->pod, err);
		}
	}
	cni_result_free(&plan);
	if (!r)
		return 0;
release:
	/* Give the address back: the runtime will not DEL a failed ADD. */
	if (!cni_ipam_exec(in->cfg->ipam_type, in->env->path, "DEL",
			   in->stdin_data, in->stdin_len, &out, err))
		free(out);
	return -1;
}

static int cmd_del(const struct invocation *in, struct cni_error *err)
{
	char *out;

	/* The interface first: its address must not be handed out while it
	 * still exists. Both steps succeed when there is nothing to do. */
	if (cni_pod_teardown(&in->pod, err))
		return -1;
	if (cni_ipam_exec(in->cfg->ipam_type, in->env->path, NULL,
			  in->stdin_data, in->stdin_len, &out, err))
		return -1;
	free(out);
	return 0;
}

static int cmd_check(const struct invocation *in, struct cni_error *err)
{
	struct cni_result prev;
	char *out;
	int r;

	if (!cni_version_has_check(in->cfg->version))
		return cni_error_set(err, CNI_ERR_INCOMPATIBLE_VERSION,
				     "incompatible CNI version",
				     "CHECK needs cniVersion 0.4.0 or later, the configuration says %s",
				     in->cfg->version);
	if (!in->cfg->prev_result)
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				     "invalid network configuration",
				     "CHECK needs \"prevResult\": the result of ADD");
	if (cni_result_parse(&prev, in->cfg->prev_result, err))
		return -1;
	r = cni_ipam_exec(in->cfg->ipam_type, in->env->path, NULL,
			  in->stdin_data, in->stdin_len, &out, err);
	if (!r) {
		free(out);
		r = cni_pod_check(&in->pod, &prev, err);
	}
	cni_result_free(&prev);
	return r;
}

int main(int argc, char **argv)
{
	struct cni_error err = { 0 };
	struct cni_config cfg = { 0 };
	struct invocation in = { 0 };
	struct cni_env env;
	char *data = NULL;
	int r = -1;

	(void)argv;
	if (argc > 1) {
		fputs("xwg-cni is a CNI plugin: a container runtime runs it with\n"
		      "CNI_COMMAND=ADD|DEL|CHECK|VERSION, CNI_CONTAINERID, CNI_NETNS,\n"
		      "CNI_IFNAME and CNI_PATH set and the network configuration on\n"
		      "stdin (see deploy/README.md). It takes no arguments.\n",
		      stderr);
		return 2;
	}
	if (cni_env_parse(&env, getenv, &err))
		goto out;
	if (env.command == CNI_CMD_VERSION) {
		r = print_owned(cni_version_format());
		goto out;
	}
	if (read_stdin(&data, &in.stdin_len, &err) ||
	    cni_config_parse(&cfg, data, in.stdin_len, &err))
		goto out;
	in.env = &env;
	in.cfg = &cfg;
	in.stdin_data = data;
	in.pod.netns = env.netns ? env.netns : "";
	in.pod.ifname = env.ifname;
	in.pod.mtu = cfg.mtu ? cfg.mtu : cni_pod_default_mtu(cfg.xwg_interface);
	cni_pod_host_ifname(in.pod.host_ifname, cfg.host_veth_prefix,
			    env.container_id, env.ifname);
	switch (env.command) {
	case CNI_CMD_ADD:
		r = cmd_add(&in, &err);
		break;
	case CNI_CMD_DEL:
		r = cmd_del(&in, &err);
		break;
	case CNI_CMD_CHECK:
		r = cmd_check(&in, &err);
		break;
	case CNI_CMD_VERSION:
		break;
	}
out:
	if (r && err.code) {
		print_owned(cni_error_format(&err, cfg.version[0] ? cfg.version : NULL));
		fprintf(stderr, "xwg-cni: %s%s%s\n", err.msg,
			err.details[0] ? ": " : "", err.details);
	}
	cni_error_clear(&err);
	cni_config_free(&cfg);
	free(data);
	return r ? 1 : 0;
}

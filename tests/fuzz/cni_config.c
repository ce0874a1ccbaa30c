// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for xwg-cni's parsers (cni/config.c, cni/result.c): the
 * network configuration on stdin and the results it reads (an IPAM
 * plugin's output, prevResult).
 *
 * 1. The bytes as a network configuration. An accepted one must hold what
 *    the parser promises (a supported version, an IPAM type, an MTU in
 *    range, a valid prefix); its prevResult, when it parses, must survive a
 *    round trip: formatted in the configuration's version, read again and
 *    formatted again, the text must not change. The ptp plan made from it
 *    must format too.
 * 2. The same bytes as a bare result (what an IPAM plugin prints), with the
 *    same round trip.
 * Every error must format as JSON.
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cni/config.h"
#include "cni/pod.h"
#include "cni/result.h"

static void check_error(const struct cni_error *err, const char *version)
{
	char *out = cni_error_format(err, version);

	if (!out || !err->code || !err->msg[0])
		abort();
	free(out);
}

static void round_trip(struct json_object *obj, const char *version)
{
	const struct cni_pod pod = { .netns = "/var/run/netns/fuzz",
				     .ifname = "eth0",
				     .host_ifname = "xwc00000000",
				     .mtu = 1420 };
	struct cni_result res, again, plan;
	struct cni_error err = { 0 };
	struct json_object *obj2;
	char *text, *text2;

	if (cni_result_parse(&res, obj, &err)) {
		check_error(&err, version);
		return;
	}
	text = cni_result_format(&res, version);
	if (!text)
		abort();
	obj2 = cni_json_parse(text, strlen(text), "formatted result", &err);
	if (!obj2 || cni_result_parse(&again, obj2, &err))
		abort();
	text2 = cni_result_format(&again, version);
	if (!text2 || strcmp(text, text2))
		abort();
	free(text2);
	free(text);
	cni_result_free(&again);
	json_object_put(obj2);

	if (!cni_pod_plan(&plan, &res, &pod, &err)) {
		text = cni_result_format(&plan, version);
		if (!text || plan.n_ifaces != 2 || plan.n_ips != res.n_ips)
			abort();
		free(text);
	} else {
		check_error(&err, version);
	}
	cni_result_free(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct cni_error err = { 0 };
	struct cni_config cfg;
	struct json_object *obj;

	if (cni_config_parse(&cfg, text, size, &err) == 0) {
		if (!cni_version_is_supported(cfg.version) || !cfg.ipam_type[0] ||
		    (cfg.mtu && (cfg.mtu < CNI_MTU_MIN || cfg.mtu > CNI_MTU_MAX)) ||
		    !cni_ifname_is_valid(cfg.xwg_interface) ||
		    !cfg.host_veth_prefix[0] ||
		    strlen(cfg.host_veth_prefix) > CNI_HOST_VETH_PREFIX_MAX)
			abort();
		if (cfg.prev_result)
			round_trip(cfg.prev_result, cfg.version);
		cni_config_free(&cfg);
	} else {
		check_error(&err, cfg.version[0] ? cfg.version : NULL);
		if (cfg.root)
			abort();
	}
	cni_error_clear(&err);

	obj = cni_json_parse(text, size, "IPAM output", &err);
	if (obj) {
		round_trip(obj, "1.0.0");
		round_trip(obj, "0.3.1");
		json_object_put(obj);
	} else {
		check_error(&err, NULL);
	}
	cni_error_clear(&err);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * xwg-cni without root: the CNI_* environment (CNI spec 1.0.0,
 * "Parameters"), the network configuration ("Network configuration
 * format"), results of every supported version ("Result Types") and errors
 * ("Error"), the point-to-point plan ADD applies, the host veth's name.
 * Numbered tables; expected JSON is compared byte for byte.
 */
#include <arpa/inet.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "cni/config.h"
#include "cni/pod.h"
#include "cni/result.h"
#include "test.h"
#include "tests/suites.h"

/* ------------------------------------------------------------------------
 * Environment. */

static const char *const *env_table;

static char *table_lookup(const char *name)
{
	size_t n = strlen(name), i;

	for (i = 0; env_table[i]; i++)
		if (!strncmp(env_table[i], name, n) && env_table[i][n] == '=')
			return (char *)env_table[i] + n + 1;
	return NULL;
}

#define FULL_ENV(cmd)                                                     \
	"CNI_COMMAND=" cmd, "CNI_CONTAINERID=abc123",                     \
		"CNI_NETNS=/var/run/netns/pod", "CNI_IFNAME=eth0",        \
		"CNI_PATH=/opt/cni/bin:/usr/lib/cni"

static const struct {
	const char *vars[8];
	int code;			/* 0: accepted */
	const char *msg_has;		/* in msg or details */
} env_vectors[] = {
	/* 0 */ { { NULL }, 4, "CNI_COMMAND" },
	/* 1 */ { { "CNI_COMMAND=VERSION" }, 0, NULL },
	/* 2 */ { { "CNI_COMMAND=FROB" }, 4, "FROB" },
	/* 3 */ { { "CNI_COMMAND=" }, 4, "CNI_COMMAND" },
	/* 4 */ { { FULL_ENV("ADD") }, 0, NULL },
	/* 5 */ { { FULL_ENV("DEL") }, 0, NULL },
	/* 6 */ { { FULL_ENV("CHECK") }, 0, NULL },
	/* 7 */ { { "CNI_COMMAND=ADD", "CNI_NETNS=/x", "CNI_IFNAME=eth0",
		    "CNI_PATH=/p" }, 4, "CNI_CONTAINERID" },
	/* 8 */ { { "CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_IFNAME=eth0",
		    "CNI_PATH=/p" }, 4, "CNI_NETNS" },
	/* 9 */ { { "CNI_COMMAND=CHECK", "CNI_CONTAINERID=c", "CNI_IFNAME=eth0",
		    "CNI_PATH=/p" }, 4, "CNI_NETNS" },
	/* 10: DEL may come after the namespace is gone */
	{ { "CNI_COMMAND=DEL", "CNI_CONTAINERID=c", "CNI_IFNAME=eth0",
	    "CNI_PATH=/p" }, 0, NULL },
	/* 11 */ { { "CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/x",
		     "CNI_PATH=/p" }, 4, "CNI_IFNAME" },
	/* 12 */ { { "CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/x",
		     "CNI_IFNAME=eth0" }, 4, "CNI_PATH" },
	/* 13 */ { { "CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/x",
		     "CNI_IFNAME=a/b", "CNI_PATH=/p" }, 4, "CNI_IFNAME" },
	/* 14 */ { { "CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/x",
		     "CNI_IFNAME=sixteen-bytes-xx", "CNI_PATH=/p" }, 4, "CNI_IFNAME" },
	/* 15 */ { { "CNI_COMMAND=ADD", "CNI_CONTAINERID=-c", "CNI_NETNS=/x",
		     "CNI_IFNAME=eth0", "CNI_PATH=/p" }, 4, "CNI_CONTAINERID" },
	/* 16 */ { { "CNI_COMMAND=ADD", "CNI_CONTAINERID=a b", "CNI_NETNS=/x",
		     "CNI_IFNAME=eth0", "CNI_PATH=/p" }, 4, "CNI_CONTAINERID" },
	/* 17 */ { { "CNI_COMMAND=ADD", "CNI_CONTAINERID=c", "CNI_NETNS=/x",
		     "CNI_IFNAME=..", "CNI_PATH=/p" }, 4, "CNI_IFNAME" },
	/* 18 */ { { "CNI_COMMAND=add", FULL_ENV("ADD") }, 4, "add" },
};

static bool error_mentions(const struct cni_error *err, const char *s)
{
	return !s || strstr(err->msg, s) || strstr(err->details, s);
}

static void test_env(void)
{
	size_t i;

	for (i = 0; i < sizeof(env_vectors) / sizeof(env_vectors[0]); i++) {
		struct cni_error err = { 0 };
		struct cni_env env;
		int r;

		env_table = env_vectors[i].vars;
		r = cni_env_parse(&env, table_lookup, &err);
		CHECKF((r == 0) == (env_vectors[i].code == 0) &&
			       err.code == env_vectors[i].code,
		       "env vector %zu: r %d code %d, want code %d", i, r,
		       err.code, env_vectors[i].code);
		CHECKF(error_mentions(&err, env_vectors[i].msg_has),
		       "env vector %zu: '%s: %s' does not mention %s", i, err.msg,
		       err.details, env_vectors[i].msg_has);
		cni_error_clear(&err);
	}
	env_table = (const char *const[]){ FULL_ENV("CHECK"), NULL };
	{
		struct cni_error err = { 0 };
		struct cni_env env;

		CHECK(cni_env_parse(&env, table_lookup, &err) == 0);
		CHECK(env.command == CNI_CMD_CHECK);
		CHECK(!strcmp(env.container_id, "abc123"));
		CHECK(!strcmp(env.netns, "/var/run/netns/pod"));
		CHECK(!strcmp(env.ifname, "eth0"));
		CHECK(!strcmp(env.path, "/opt/cni/bin:/usr/lib/cni"));
	}
}

/* ------------------------------------------------------------------------
 * Network configuration. */

#define IPAM "\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.1.0.0/24\"}"
#define BASE "\"cniVersion\":\"1.0.0\",\"name\":\"net\",\"type\":\"xwg-cni\""

static const struct {
	const char *json;
	int code;
	const char *msg_has;
} config_vectors[] = {
	/* 0 */ { "{" BASE "," IPAM "}", 0, NULL },
	/* 1 */ { "", 6, NULL },
	/* 2 */ { "{", 6, NULL },
	/* 3 */ { "[]", 6, "not a JSON object" },
	/* 4 */ { "{" BASE "," IPAM "} {}", 6, "byte" },
	/* 5 */ { "{\"cniVersion\":\"1.0.0\",}", 6, NULL },
	/* 6 */ { "{'cniVersion':'1.0.0'}", 6, NULL },
	/* 7 */ { "{\"name\":\"net\",\"type\":\"x\"," IPAM "}", 7, "cniVersion" },
	/* 8 */ { "{\"cniVersion\":1,\"name\":\"net\",\"type\":\"x\"," IPAM "}", 7,
		  "cniVersion" },
	/* 9 */ { "{\"cniVersion\":\"0.2.0\",\"name\":\"n\",\"type\":\"x\"," IPAM "}",
		  1, "0.2.0" },
	/* 10 */ { "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"x\"," IPAM "}",
		   1, "1.1.0" },
	/* 11 */ { "{\"cniVersion\":\"1.0.0\",\"type\":\"x\"," IPAM "}", 7, "name" },
	/* 12 */ { "{\"cniVersion\":\"1.0.0\",\"name\":\"-n\",\"type\":\"x\"," IPAM "}",
		   7, "name" },
	/* 13 */ { "{\"cniVersion\":\"1.0.0\",\"name\":3,\"type\":\"x\"," IPAM "}", 7,
		   "name" },
	/* 14 */ { "{\"cniVersion\":\"1.0.0\",\"name\":\"n\"," IPAM "}", 7, "type" },
	/* 15 */ { "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"\"," IPAM "}",
		   7, "type" },
	/* 16 */ { "{" BASE "}", 7, "ipam" },
	/* 17 */ { "{" BASE ",\"ipam\":\"host-local\"}", 7, "ipam" },
	/* 18 */ { "{" BASE ",\"ipam\":{}}", 7, "ipam.type" },
	/* 19 */ { "{" BASE ",\"ipam\":{\"type\":\"\"}}", 7, "ipam.type" },
	/* 20 */ { "{" BASE ",\"ipam\":{\"type\":\"../bin/sh\"}}", 7, "ipam.type" },
	/* 21 */ { "{" BASE ",\"ipam\":{\"type\":7}}", 7, "ipam.type" },
	/* 22 */ { "{" BASE "," IPAM ",\"mtu\":1400}", 0, NULL },
	/* 23 */ { "{" BASE "," IPAM ",\"mtu\":0}", 7, "mtu" },
	/* 24 */ { "{" BASE "," IPAM ",\"mtu\":67}", 7, "mtu" },
	/* 25 */ { "{" BASE "," IPAM ",\"mtu\":65536}", 7, "mtu" },
	/* 26 */ { "{" BASE "," IPAM ",\"mtu\":\"1400\"}", 7, "mtu" },
	/* 27 */ { "{" BASE "," IPAM ",\"mtu\":1400.5}", 7, "mtu" },
	/* 28 */ { "{" BASE "," IPAM ",\"mtu\":-1}", 7, "mtu" },
	/* 29 */ { "{" BASE "," IPAM ",\"xwgInterface\":\"wg7\"}", 0, NULL },
	/* 30 */ { "{" BASE "," IPAM ",\"xwgInterface\":\"\"}", 7, "xwgInterface" },
	/* 31 */ { "{" BASE "," IPAM ",\"xwgInterface\":\"a/b\"}", 7, "xwgInterface" },
	/* 32 */ { "{" BASE "," IPAM ",\"xwgInterface\":\"abcdefghijklmnop\"}", 7,
		   "xwgInterface" },
	/* 33 */ { "{" BASE "," IPAM ",\"hostVethPrefix\":\"pod\"}", 0, NULL },
	/* 34 */ { "{" BASE "," IPAM ",\"hostVethPrefix\":\"eightchr\"}", 7,
		   "hostVethPrefix" },
	/* 35 */ { "{" BASE "," IPAM ",\"hostVethPrefix\":\"\"}", 7, "hostVethPrefix" },
	/* 36 */ { "{" BASE "," IPAM ",\"hostVethPrefix\":\"a b\"}", 7,
		   "hostVethPrefix" },
	/* 37 */ { "{" BASE "," IPAM ",\"prevResult\":[]}", 7, "prevResult" },
	/* 38 */ { "{" BASE "," IPAM ",\"dns\":1}", 7, "dns" },
	/* 39: unknown fields are the runtime's business */
	{ "{" BASE "," IPAM ",\"runtimeConfig\":{},\"args\":{\"x\":1}}", 0, NULL },
	/* 40 */ { "{" BASE "," IPAM ",\"mtu\":null}", 0, NULL },
	/* 41 */ { "{\"cniVersion\":\"0.3.1\",\"name\":\"a.b_c-d\",\"type\":\"x\"," IPAM
		   ",\"prevResult\":{\"ips\":[]},\"dns\":{\"nameservers\":[\"10.0.0.10\"]}}",
		   0, NULL },
	/* 42 */ { "\"1.0.0\"", 6, NULL },
	/* 43: trailing whitespace is fine */
	{ "{" BASE "," IPAM "} \n\t ", 0, NULL },
};

static void test_config(void)
{
	struct cni_config cfg;
	size_t i;

	for (i = 0; i < sizeof(config_vectors) / sizeof(config_vectors[0]); i++) {
		const char *j = config_vectors[i].json;
		struct cni_error err = { 0 };
		int r = cni_config_parse(&cfg, j, strlen(j), &err);

		CHECKF((r == 0) == (config_vectors[i].code == 0) &&
			       err.code == config_vectors[i].code,
		       "config vector %zu: r %d code %d (%s: %s), want code %d", i,
		       r, err.code, err.msg, err.details, config_vectors[i].code);
		CHECKF(error_mentions(&err, config_vectors[i].msg_has),
		       "config vector %zu: '%s: %s' does not mention %s", i,
		       err.msg, err.details, config_vectors[i].msg_has);
		CHECKF(r || cfg.root, "config vector %zu: no document", i);
		if (!r)
			cni_config_free(&cfg);
		else
			CHECK(cfg.root == NULL);
		cni_error_clear(&err);
	}

	/* Defaults and values. */
	{
		const char *j = config_vectors[0].json;
		struct cni_error err = { 0 };

		CHECK(cni_config_parse(&cfg, j, strlen(j), &err) == 0);
		CHECK(!strcmp(cfg.version, "1.0.0"));
		CHECK(!strcmp(cfg.ipam_type, "host-local"));
		CHECK(cfg.mtu == 0);
		CHECK(!strcmp(cfg.xwg_interface, "xwg0"));
		CHECK(!strcmp(cfg.host_veth_prefix, "xwc"));
		CHECK(!cfg.prev_result && !cfg.dns);
		cni_config_free(&cfg);
	}
	{
		const char *j = config_vectors[41].json;
		struct cni_error err = { 0 };

		CHECK(cni_config_parse(&cfg, j, strlen(j), &err) == 0);
		CHECK(!strcmp(cfg.version, "0.3.1"));
		CHECK(cfg.prev_result && cfg.dns);
		cni_config_free(&cfg);
	}
	/* An error after cniVersion was read is answered in that version. */
	{
		const char *j = "{\"cniVersion\":\"0.4.0\",\"name\":\"n\",\"type\":\"x\"}";
		struct cni_error err = { 0 };
		char *out;

		CHECK(cni_config_parse(&cfg, j, strlen(j), &err) < 0);
		CHECK(!strcmp(cfg.version, "0.4.0"));
		out = cni_error_format(&err, cfg.version);
		CHECKF(out && !strcmp(out, "{\"cniVersion\":\"0.4.0\",\"code\":7,"
				 "\"msg\":\"invalid network configuration\","
				 "\"details\":\"\\\"ipam\\\" is required: an object naming the "
				 "IPAM plugin, e.g. {\\\"type\\\": \\\"host-local\\\", ...}\"}"),
		       "got %s", out ? out : "NULL");
		free(out);
	}
	/* Embedded NUL bytes are not JSON. */
	{
		static const char j[] = "{\"cniVersion\":\"1.0.0\"}\0{}";
		struct cni_error err = { 0 };

		CHECK(cni_config_parse(&cfg, j, sizeof(j) - 1, &err) < 0);
		CHECK(err.code == 6);
	}
}

/* ------------------------------------------------------------------------
 * Errors and VERSION. */

static void test_error_and_version(void)
{
	struct cni_error err = { 0 };
	char *out;

	cni_error_set(&err, 4, "CNI_NETNS is not set", NULL);
	/* The first error wins: a rollback's does not hide the cause. */
	cni_error_set(&err, 5, "later", "later");
	out = cni_error_format(&err, NULL);
	CHECKF(out && !strcmp(out, "{\"cniVersion\":\"1.0.0\",\"code\":4,"
			 "\"msg\":\"CNI_NETNS is not set\"}"),
	       "got %s", out);
	free(out);
	out = cni_error_format(&err, "9.9.9");
	CHECKF(out && strstr(out, "\"cniVersion\":\"1.0.0\""), "got %s", out);
	free(out);
	cni_error_clear(&err);
	CHECK(err.code == 0);

	/* A delegated plugin's error object goes out as it came. */
	err.code = 5;
	err.passthrough = strdup("{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"busy\"}");
	out = cni_error_format(&err, "1.0.0");
	CHECK(out && !strcmp(out, err.passthrough));
	free(out);
	cni_error_clear(&err);

	out = cni_version_format();
	CHECKF(out && !strcmp(out, "{\"cniVersion\":\"1.0.0\",\"supportedVersions\":"
			 "[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\"]}"),
	       "got %s", out);
	free(out);
	CHECK(cni_version_is_supported("0.3.0") && cni_version_is_supported("1.0.0"));
	CHECK(!cni_version_is_supported("0.2.0") && !cni_version_is_supported(NULL));
	CHECK(!cni_version_has_check("0.3.1") && cni_version_has_check("0.4.0"));
	CHECK(cni_version_has_ip_version("0.4.0") && !cni_version_has_ip_version("1.0.0"));
}

/* ------------------------------------------------------------------------
 * Results. */

static const struct {
	const char *text;
	bool ok;
	unsigned len;
} prefix_vectors[] = {
	/* 0 */ { "10.1.2.3/24", true, 24 },
	/* 1 */ { "0.0.0.0/0", true, 0 },
	/* 2 */ { "fd00::1/128", true, 128 },
	/* 3 */ { "::/0", true, 0 },
	/* 4 */ { "10.1.2.3", false, 0 },
	/* 5 */ { "10.1.2.3/33", false, 0 },
	/* 6 */ { "fd00::1/129", false, 0 },
	/* 7 */ { "10.1.2.3/024", false, 0 },
	/* 8 */ { "10.1.2.3/", false, 0 },
	/* 9 */ { "/24", false, 0 },
	/* 10 */ { "10.1.2.3/2x", false, 0 },
	/* 11 */ { "10.1.2/24", false, 0 },
	/* 12 */ { "10.1.2.3/+4", false, 0 },
	/* 13 */ { "10.1.2.3/1000", false, 0 },
	/* 14 */ { "10.1.2.3/24/1", false, 0 },
};

/* Parse json as a result, 0 or the error code. */
static int parse_result(struct cni_result *res, const char *json)
{
	struct cni_error err = { 0 };
	struct json_object *obj = cni_json_parse(json, strlen(json), "test", &err);
	int r;

	if (!obj)
		return err.code;
	r = cni_result_parse(res, obj, &err);
	json_object_put(obj);
	return r ? err.code : 0;
}

#define HOST_LOCAL_1_0 \
	"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.1.0.5/24\"," \
	"\"gateway\":\"10.1.0.1\"}],\"dns\":{}}"
#define HOST_LOCAL_0_4 \
	"{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"4\",\"address\":" \
	"\"10.1.0.5/24\",\"gateway\":\"10.1.0.1\"}],\"dns\":{}}"

static const struct {
	const char *json;
	int code;
} result_vectors[] = {
	/* 0 */ { HOST_LOCAL_1_0, 0 },
	/* 1 */ { HOST_LOCAL_0_4, 0 },
	/* 2 */ { "{}", 0 },
	/* 3 */ { "{\"ips\":{}}", 6 },
	/* 4 */ { "{\"ips\":[{\"address\":\"10.1.0.5\"}]}", 6 },
	/* 5 */ { "{\"ips\":[{\"address\":\"10.1.0.5/24\",\"gateway\":\"fd00::1\"}]}", 6 },
	/* 6 */ { "{\"ips\":[{\"version\":\"6\",\"address\":\"10.1.0.5/24\"}]}", 6 },
	/* 7 */ { "{\"ips\":[{\"address\":\"10.1.0.5/24\",\"interface\":0}]}", 6 },
	/* 8 */ { "{\"interfaces\":[{\"name\":\"eth0\"}],\"ips\":[{\"address\":"
		  "\"10.1.0.5/24\",\"interface\":0}]}", 0 },
	/* 9 */ { "{\"interfaces\":[{\"name\":\"eth0\"}],\"ips\":[{\"address\":"
		  "\"10.1.0.5/24\",\"interface\":-1}]}", 6 },
	/* 10 */ { "{\"interfaces\":[{\"name\":\"eth0\"}],\"ips\":[{\"address\":"
		   "\"10.1.0.5/24\",\"interface\":\"0\"}]}", 6 },
	/* 11 */ { "{\"interfaces\":[{\"mac\":\"00:11:22:33:44:55\"}]}", 6 },
	/* 12 */ { "{\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"00:11:22:33:44\"}]}", 6 },
	/* 13 */ { "{\"interfaces\":[{\"name\":\"abcdefghijklmnop\"}]}", 6 },
	/* 14 */ { "{\"interfaces\":[1]}", 6 },
	/* 15 */ { "{\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"}]}", 0 },
	/* 16 */ { "{\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"fd00::1\"}]}", 6 },
	/* 17 */ { "{\"routes\":[{\"gw\":\"10.1.0.1\"}]}", 6 },
	/* 18 */ { "{\"routes\":[{\"dst\":5}]}", 6 },
	/* 19 */ { "{\"dns\":[]}", 6 },
	/* 20 */ { "{\"ips\":[{\"address\":\"10.1.0.5/24\",\"gateway\":\"10.1.0.256\"}]}", 6 },
	/* 21 */ { "{\"ips\":[\"10.1.0.5/24\"]}", 6 },
	/* 22 */ { "{\"routes\":null}", 0 },
};

static void test_result_parse(void)
{
	struct cni_result res;
	size_t i;

	for (i = 0; i < sizeof(prefix_vectors) / sizeof(prefix_vectors[0]); i++) {
		struct cni_prefix p;
		bool ok = cni_prefix_parse(&p, prefix_vectors[i].text);

		CHECKF(ok == prefix_vectors[i].ok &&
			       (!ok || p.len == prefix_vectors[i].len),
		       "prefix vector %zu (%s): ok %d len %u", i,
		       prefix_vectors[i].text, ok, p.len);
	}
	for (i = 0; i < sizeof(result_vectors) / sizeof(result_vectors[0]); i++) {
		int code = parse_result(&res, result_vectors[i].json);

		CHECKF(code == result_vectors[i].code,
		       "result vector %zu: code %d, want %d", i, code,
		       result_vectors[i].code);
		if (!code)
			cni_result_free(&res);
	}
	CHECK(parse_result(&res, HOST_LOCAL_0_4) == 0);
	CHECK(res.n_ips == 1 && res.ips[0].address.family == AF_INET &&
	      res.ips[0].address.len == 24 && res.ips[0].has_gateway &&
	      res.ips[0].iface == -1 && res.dns);
	cni_result_free(&res);
}

/* A whole ADD result: what cni_pod_plan makes from host-local's, with
 * MACs as cni_pod_setup fills them. */
static void test_result_format(void)
{
	static const char want_1_0[] =
		"{\"cniVersion\":\"1.0.0\",\"interfaces\":["
		"{\"name\":\"xwc01234567\",\"mac\":\"02:00:00:00:00:01\"},"
		"{\"name\":\"eth0\",\"mac\":\"02:00:00:00:00:02\",\"sandbox\":\"/var/run/netns/pod\"}],"
		"\"ips\":[{\"address\":\"10.1.0.5/32\",\"gateway\":\"10.1.0.1\",\"interface\":1},"
		"{\"address\":\"fd00:1::5/128\",\"gateway\":\"fd00:1::1\",\"interface\":1}],"
		"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"},"
		"{\"dst\":\"::/0\",\"gw\":\"fd00:1::1\"}],"
		"\"dns\":{\"nameservers\":[\"10.96.0.10\"]}}";
	static const char want_0_3[] =
		"{\"cniVersion\":\"0.3.1\",\"interfaces\":["
		"{\"name\":\"xwc01234567\",\"mac\":\"02:00:00:00:00:01\"},"
		"{\"name\":\"eth0\",\"mac\":\"02:00:00:00:00:02\",\"sandbox\":\"/var/run/netns/pod\"}],"
		"\"ips\":[{\"version\":\"4\",\"address\":\"10.1.0.5/32\",\"gateway\":\"10.1.0.1\",\"interface\":1},"
		"{\"version\":\"6\",\"address\":\"fd00:1::5/128\",\"gateway\":\"fd00:1::1\",\"interface\":1}],"
		"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"},"
		"{\"dst\":\"::/0\",\"gw\":\"fd00:1::1\"}],"
		"\"dns\":{\"nameservers\":[\"10.96.0.10\"]}}";
	const struct cni_pod pod = { .netns = "/var/run/netns/pod", .ifname = "eth0",
				     .host_ifname = "xwc01234567", .mtu = 1420 };
	struct cni_result ipam, plan, again;
	struct cni_error err = { 0 };
	char *out, *out2;

	CHECK(parse_result(&ipam,
			   "{\"cniVersion\":\"1.0.0\",\"ips\":["
			   "{\"address\":\"10.1.0.5/24\",\"gateway\":\"10.1.0.1\"},"
			   "{\"address\":\"fd00:1::5/64\",\"gateway\":\"fd00:1::1\"}],"
			   "\"dns\":{\"nameservers\":[\"10.96.0.10\"]}}") == 0);
	CHECK(cni_pod_plan(&plan, &ipam, &pod, &err) == 0);
	plan.dns = json_object_get(ipam.dns);
	strcpy(plan.ifaces[0].mac, "02:00:00:00:00:01");
	strcpy(plan.ifaces[1].mac, "02:00:00:00:00:02");
	out = cni_result_format(&plan, "1.0.0");
	CHECKF(out && !strcmp(out, want_1_0), "got  %s\nwant %s", out, want_1_0);
	/* What we print, we read back the same (CHECK's prevResult). */
	CHECK(parse_result(&again, out) == 0);
	out2 = cni_result_format(&again, "1.0.0");
	CHECKF(out2 && !strcmp(out2, want_1_0), "round trip: %s", out2);
	free(out2);
	cni_result_free(&again);
	free(out);
	out = cni_result_format(&plan, "0.3.1");
	CHECKF(out && !strcmp(out, want_0_3), "got  %s\nwant %s", out, want_0_3);
	free(out);
	cni_result_free(&plan);
	cni_result_free(&ipam);

	/* An IPAM result with nothing but an address: no gateway given. */
	CHECK(parse_result(&ipam, "{\"ips\":[{\"address\":\"10.1.0.5/24\"}]}") == 0);
	CHECK(cni_pod_plan(&plan, &ipam, &pod, &err) == 0);
	out = cni_result_format(&plan, "1.0.0");
	CHECKF(out && !strcmp(out,
			      "{\"cniVersion\":\"1.0.0\",\"interfaces\":["
			      "{\"name\":\"xwc01234567\"},"
			      "{\"name\":\"eth0\",\"sandbox\":\"/var/run/netns/pod\"}],"
			      "\"ips\":[{\"address\":\"10.1.0.5/32\",\"gateway\":\"169.254.1.1\",\"interface\":1}],"
			      "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"169.254.1.1\"}],"
			      "\"dns\":{}}"),
	       "got %s", out);
	free(out);
	cni_result_free(&ipam);
}

static const struct {
	const char *ipam;
	int code;			/* of cni_pod_plan */
	const char *routes;		/* the plan's routes as JSON, when 0 */
} plan_vectors[] = {
	/* 0: IPAM routes without gw go via the gateway, with gw stay */
	{ "{\"ips\":[{\"address\":\"10.1.0.5/24\",\"gateway\":\"10.1.0.1\"}],"
	  "\"routes\":[{\"dst\":\"10.0.0.0/8\"},{\"dst\":\"192.0.2.0/24\",\"gw\":\"10.1.0.9\"}]}",
	  0, "[{\"dst\":\"10.0.0.0/8\",\"gw\":\"10.1.0.1\"},{\"dst\":\"192.0.2.0/24\",\"gw\":\"10.1.0.9\"}]" },
	/* 1: no address at all */
	{ "{\"ips\":[]}", 7, NULL },
	/* 2: an IPv6 route but only an IPv4 address */
	{ "{\"ips\":[{\"address\":\"10.1.0.5/24\"}],\"routes\":[{\"dst\":\"::/0\"}]}", 7, NULL },
	/* 3: the gateway is the pod's own address */
	{ "{\"ips\":[{\"address\":\"10.1.0.1/24\",\"gateway\":\"10.1.0.1\"}]}", 7, NULL },
	/* 4: IPv6 only, no gateway */
	{ "{\"ips\":[{\"address\":\"fd00::5/64\"}]}", 0,
	  "[{\"dst\":\"::/0\",\"gw\":\"fe80::1\"}]" },
};

static void test_plan(void)
{
	const struct cni_pod pod = { .netns = "/run/netns/p", .ifname = "eth0",
				     .host_ifname = "xwc00000000", .mtu = 1420 };
	size_t i;

	for (i = 0; i < sizeof(plan_vectors) / sizeof(plan_vectors[0]); i++) {
		struct cni_result ipam, plan;
		struct cni_error err = { 0 };
		struct json_object *obj, *routes;
		char *out;
		int r;

		if (!CHECKF(parse_result(&ipam, plan_vectors[i].ipam) == 0,
			    "plan vector %zu: IPAM result does not parse", i))
			continue;
		r = cni_pod_plan(&plan, &ipam, &pod, &err);
		cni_result_free(&ipam);
		CHECKF(r ? err.code == plan_vectors[i].code : plan_vectors[i].code == 0,
		       "plan vector %zu: r %d code %d (%s), want %d", i, r,
		       err.code, err.details, plan_vectors[i].code);
		if (r)
			continue;
		CHECK(plan.n_ifaces == 2 && plan.ips[0].iface == 1 &&
		      plan.ips[0].address.len == cni_addr_len(plan.ips[0].address.family) * 8);
		out = cni_result_format(&plan, "1.0.0");
		obj = out ? json_tokener_parse(out) : NULL;
		routes = obj ? json_object_object_get(obj, "routes") : NULL;
		CHECKF(routes && !strcmp(json_object_to_json_string_ext(
						 routes, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE),
					 plan_vectors[i].routes),
		       "plan vector %zu: %s", i, out);
		json_object_put(obj);
		free(out);
		cni_result_free(&plan);
	}
}

static void test_host_ifname(void)
{
	char a[IFNAMSIZ], b[IFNAMSIZ], c[IFNAMSIZ], d[IFNAMSIZ];
	size_t i;

	cni_pod_host_ifname(a, "xwc", "container1", "eth0");
	cni_pod_host_ifname(b, "xwc", "container1", "eth0");
	cni_pod_host_ifname(c, "xwc", "container1", "eth1");
	cni_pod_host_ifname(d, "longpre", "container1", "eth0");
	CHECK(!strcmp(a, b));		/* DEL finds what ADD made */
	CHECK(strcmp(a, c) != 0);
	CHECK(strlen(a) == 11 && !strncmp(a, "xwc", 3));
	for (i = 3; i < 11; i++)
		CHECK(strchr("0123456789abcdef", a[i]) != NULL);
	CHECK(strlen(d) == 15 && !strncmp(d, "longpre", 7) && !strcmp(d + 7, a + 3));
	CHECK(cni_ifname_is_valid(d));
}

void test_cni(void)
{
	test_env();
	test_config();
	test_error_and_version();
	test_result_parse();
	test_result_format();
	test_plan();
	test_host_ifname();
}

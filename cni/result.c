// SPDX-License-Identifier: GPL-2.0
/*
 * xwg-cni: result reading and writing (CNI spec 1.0.0, "ADD Success";
 * the 0.3.x/0.4.0 shape differs only by "version" in each IP).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni/result.h"

_Static_assert(AF_INET6 == 10, "cni_addr_len assumes Linux's AF_INET6");

int cni_addr_parse(uint8_t addr[16], const char *text)
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, text, addr) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, text, addr) == 1)
		return AF_INET6;
	return 0;
}

bool cni_prefix_parse(struct cni_prefix *p, const char *text)
{
	const char *slash = strchr(text, '/');
	char host[INET6_ADDRSTRLEN];
	unsigned long len = 0;
	size_t i;

	memset(p, 0, sizeof(*p));
	if (!slash || (size_t)(slash - text) >= sizeof(host) || !slash[1] ||
	    strlen(slash + 1) > 3)
		return false;
	for (i = 1; slash[i]; i++) {
		if (!isdigit((unsigned char)slash[i]))
			return false;
		len = len * 10 + (unsigned long)(slash[i] - '0');
	}
	if (slash[1] == '0' && slash[2])
		return false;	/* no leading zeros, as Go prints them */
	memcpy(host, text, (size_t)(slash - text));
	host[slash - text] = '\0';
	p->family = cni_addr_parse(p->addr, host);
	if (!p->family || len > cni_addr_len(p->family) * 8)
		return false;
	p->len = (unsigned)len;
	return true;
}

static void format_addr(char *buf, size_t size, int family,
			const uint8_t *addr)
{
	if (!inet_ntop(family, addr, buf, (socklen_t)size))
		snprintf(buf, size, "?");
}

static void format_prefix(char *buf, size_t size, const struct cni_prefix *p)
{
	char a[INET6_ADDRSTRLEN];

	format_addr(a, sizeof(a), p->family, p->addr);
	snprintf(buf, size, "%s/%u", a, p->len);
}

static int bad(struct cni_error *err, const char *field, unsigned i,
	       const char *what)
{
	return cni_error_set(err, CNI_ERR_DECODE, "failed to decode result",
			     "%s[%u] %s", field, i, what);
}

/* An optional string member: NULL when absent, "" + error on a wrong type. */
static const char *member_string(struct json_object *obj, const char *key,
				 bool *wrong_type)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return NULL;
	if (!json_object_is_type(v, json_type_string)) {
		*wrong_type = true;
		return NULL;
	}
	return json_object_get_string(v);
}

/* An optional array member: 0 (and *out) / 1 absent / -1 not an array. */
static int member_array(struct json_object *obj, const char *key,
			struct json_object **out)
{
	if (!json_object_object_get_ex(obj, key, out) || !*out)
		return 1;
	return json_object_is_type(*out, json_type_array) ? 0 : -1;
}

static bool is_mac(const char *s)
{
	size_t i;

	if (strlen(s) != 17)
		return false;
	for (i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int parse_ifaces(struct cni_result *res, struct json_object *list,
			struct cni_error *err)
{
	size_t i, n = json_object_array_length(list);

	if (n > CNI_RESULT_IFACES_MAX)
		return cni_error_set(err, CNI_ERR_DECODE, "failed to decode result",
				     "more than %d interfaces", CNI_RESULT_IFACES_MAX);
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(list, i);
		struct cni_iface *f = &res->ifaces[i];
		const char *name, *mac, *sandbox;
		bool wrong = false;

		if (!json_object_is_type(o, json_type_object))
			return bad(err, "interfaces", (unsigned)i, "is not an object");
		name = member_string(o, "name", &wrong);
		mac = member_string(o, "mac", &wrong);
		sandbox = member_string(o, "sandbox", &wrong);
		if (wrong)
			return bad(err, "interfaces", (unsigned)i,
				   "has a non-string name, mac or sandbox");
		if (!name || !name[0] || strlen(name) >= sizeof(f->name))
			return bad(err, "interfaces", (unsigned)i,
				   "needs a name of 1 to 15 bytes");
		if (mac && mac[0] && !is_mac(mac))
			return bad(err, "interfaces", (unsigned)i,
				   "has a mac that is not aa:bb:cc:dd:ee:ff");
		if (sandbox && strlen(sandbox) >= sizeof(f->sandbox))
			return bad(err, "interfaces", (unsigned)i,
				   "has a sandbox path that is too long");
		strcpy(f->name, name);
		snprintf(f->mac, sizeof(f->mac), "%s", mac ? mac : "");
		snprintf(f->sandbox, sizeof(f->sandbox), "%s", sandbox ? sandbox : "");
		res->n_ifaces++;
	}
	return 0;
}

static int parse_ips(struct cni_result *res, struct json_object *list,
		     struct cni_error *err)
{
	size_t i, n = json_object_array_length(list);

	if (n > CNI_RESULT_IPS_MAX)
		return cni_error_set(err, CNI_ERR_DECODE, "failed to decode result",
				     "more than %d ips", CNI_RESULT_IPS_MAX);
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(list, i), *idx;
		struct cni_ip *ip = &res->ips[i];
		const char *addr, *gw, *version;
		bool wrong = false;

		if (!json_object_is_type(o, json_type_object))
			return bad(err, "ips", (unsigned)i, "is not an object");
		addr = member_string(o, "address", &wrong);
		gw = member_string(o, "gateway", &wrong);
		version = member_string(o, "version", &wrong);
		if (wrong)
			return bad(err, "ips", (unsigned)i,
				   "has a non-string address, gateway or version");
		if (!addr || !cni_prefix_parse(&ip->address, addr))
			return bad(err, "ips", (unsigned)i,
				   "needs an address like 10.1.2.3/24");
		if (gw) {
			if (cni_addr_parse(ip->gateway, gw) != ip->address.family)
				return bad(err, "ips", (unsigned)i,
					   "has a gateway that is not an address of the same family");
			ip->has_gateway = true;
		}
		if (version &&
		    strcmp(version, ip->address.family == AF_INET ? "4" : "6"))
			return bad(err, "ips", (unsigned)i,
				   "has a version that does not match its address");
		ip->iface = -1;
		if (json_object_object_get_ex(o, "interface", &idx) && idx) {
			int64_t v = json_object_get_int64(idx);

			if (!json_object_is_type(idx, json_type_int) || v < 0 ||
			    v >= (int64_t)res->n_ifaces)
				return bad(err, "ips", (unsigned)i,
					   "has an interface that is not an index into interfaces");
			ip->iface = (int)v;
		}
		res->n_ips++;
	}
	return 0;
}

static int parse_routes(struct cni_result *res, struct json_object *list,
			struct cni_error *err)
{
	size_t i, n = json_object_array_length(list);

	if (n > CNI_RESULT_ROUTES_MAX)
		return cni_error_set(err, CNI_ERR_DECODE, "failed to decode result",
				     "more than %d routes", CNI_RESULT_ROUTES_MAX);
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(list, i);
		struct cni_route *r = &res->routes[i];
		const char *dst, *gw;
		bool wrong = false;

		if (!json_object_is_type(o, json_type_object))
			return bad(err, "routes", (unsigned)i, "is not an object");
		dst = member_string(o, "dst", &wrong);
		gw = member_string(o, "gw", &wrong);
		if (wrong)
			return bad(err, "routes", (unsigned)i,
				   "has a non-string dst or gw");
		if (!dst || !cni_prefix_parse(&r->dst, dst))
			return bad(err, "routes", (unsigned)i,
				   "needs a dst like 0.0.0.0/0");
		if (gw) {
			if (cni_addr_parse(r->gw, gw) != r->dst.family)
				return bad(err, "routes", (unsigned)i,
					   "has a gw that is not an address of the dst's family");
			r->has_gw = true;
		}
		res->n_routes++;
	}
	return 0;
}

int cni_result_parse(struct cni_result *res, struct json_object *obj,
		     struct cni_error *err)
{
	struct json_object *list, *dns;
	int r;

	memset(res, 0, sizeof(*res));
	if (!json_object_is_type(obj, json_type_object))
		return cni_error_set(err, CNI_ERR_DECODE, "failed to decode result",
				     "the result is not a JSON object");
	r = member_array(obj, "interfaces", &list);
	if (r < 0 || (r == 0 && parse_ifaces(res, list, err)))
		goto bad_list;
	r = member_array(obj, "ips", &list);
	if (r < 0 || (r == 0 && parse_ips(res, list, err)))
		goto bad_list;
	r = member_array(obj, "routes", &list);
	if (r < 0 || (r == 0 && parse_routes(res, list, err)))
		goto bad_list;
	if (json_object_object_get_ex(obj, "dns", &dns) && dns) {
		if (!json_object_is_type(dns, json_type_object)) {
			cni_error_set(err, CNI_ERR_DECODE, "failed to decode result",
				      "dns is not an object");
			goto fail;
		}
		res->dns = json_object_get(dns);
	}
	return 0;
bad_list:
	cni_error_set(err, CNI_ERR_DECODE, "failed to decode result",
		      "interfaces, ips and routes must be arrays");
fail:
	cni_result_free(res);
	return -1;
}

void cni_result_free(struct cni_result *res)
{
	json_object_put(res->dns);
	res->dns = NULL;
}

static void add_string(struct json_object *obj, const char *key,
		       const char *value)
{
	json_object_object_add(obj, key, json_object_new_string(value));
}

char *cni_result_format(const struct cni_result *res, const char *version)
{
	struct json_object *obj = json_object_new_object(), *list;
	char buf[INET6_ADDRSTRLEN + 8];
	const char *text;
	char *out;
	unsigned i;

	if (!obj)
		return NULL;
	add_string(obj, "cniVersion", version);
	if (res->n_ifaces) {
		list = json_object_new_array();
		for (i = 0; i < res->n_ifaces; i++) {
			const struct cni_iface *f = &res->ifaces[i];
			struct json_object *o = json_object_new_object();

			add_string(o, "name", f->name);
			if (f->mac[0])
				add_string(o, "mac", f->mac);
			if (f->sandbox[0])
				add_string(o, "sandbox", f->sandbox);
			json_object_array_add(list, o);
		}
		json_object_object_add(obj, "interfaces", list);
	}
	list = json_object_new_array();
	for (i = 0; i < res->n_ips; i++) {
		const struct cni_ip *ip = &res->ips[i];
		struct json_object *o = json_object_new_object();

		if (cni_version_has_ip_version(version))
			add_string(o, "version",
				   ip->address.family == AF_INET ? "4" : "6");
		format_prefix(buf, sizeof(buf), &ip->address);
		add_string(o, "address", buf);
		if (ip->has_gateway) {
			format_addr(buf, sizeof(buf), ip->address.family, ip->gateway);
			add_string(o, "gateway", buf);
		}
		if (ip->iface >= 0)
			json_object_object_add(o, "interface",
					       json_object_new_int(ip->iface));
		json_object_array_add(list, o);
	}
	json_object_object_add(obj, "ips", list);
	if (res->n_routes) {
		list = json_object_new_array();
		for (i = 0; i < res->n_routes; i++) {
			const struct cni_route *r = &res->routes[i];
			struct json_object *o = json_object_new_object();

			format_prefix(buf, sizeof(buf), &r->dst);
			add_string(o, "dst", buf);
			if (r->has_gw) {
				format_addr(buf, sizeof(buf), r->dst.family, r->gw);
				add_string(o, "gw", buf);
			}
			json_object_array_add(list, o);
		}
		json_object_object_add(obj, "routes", list);
	}
	json_object_object_add(obj, "dns", res->dns ? json_object_get(res->dns) :
						      json_object_new_object());
	text = json_object_to_json_string_ext(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	out = text ? strdup(text) : NULL;
	json_object_put(obj);
	return out;
}

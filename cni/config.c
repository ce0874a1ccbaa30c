// SPDX-License-Identifier: GPL-2.0
/*
 * xwg-cni: environment and network configuration parsing (CNI spec 1.0.0,
 * "Parameters", "Section 1: Network configuration format").
 */
#include <ctype.h>
#include <json-c/json.h>
#include <string.h>

#include "cni/config.h"

static const struct {
	const char *name;
	enum cni_command command;
} commands[] = {
	{ "ADD", CNI_CMD_ADD },
	{ "DEL", CNI_CMD_DEL },
	{ "CHECK", CNI_CMD_CHECK },
	{ "VERSION", CNI_CMD_VERSION },
};

bool cni_ifname_is_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (i = 0; i < n; i++)
		if (name[i] == '/' || name[i] == ':' ||
		    isspace((unsigned char)name[i]) || !isprint((unsigned char)name[i]))
			return false;
	return true;
}

/* The spec's rule for container IDs and network names: an alphanumeric
 * character, then alphanumerics, '_', '.' and '-'. */
static bool is_spec_identifier(const char *s)
{
	size_t i;

	if (!isalnum((unsigned char)s[0]))
		return false;
	for (i = 1; s[i]; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

static const char *nonempty(char *(*lookup)(const char *), const char *name)
{
	const char *v = lookup(name);

	return v && v[0] ? v : NULL;
}

int cni_env_parse(struct cni_env *env, char *(*lookup)(const char *name),
		  struct cni_error *err)
{
	const char *cmd = nonempty(lookup, "CNI_COMMAND");
	size_t i;

	memset(env, 0, sizeof(*env));
	if (!cmd)
		return cni_error_set(err, CNI_ERR_INVALID_ENV,
				     "CNI_COMMAND is not set",
				     "set it to ADD, DEL, CHECK or VERSION");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(cmd, commands[i].name))
			break;
	if (i == sizeof(commands) / sizeof(commands[0]))
		return cni_error_set(err, CNI_ERR_INVALID_ENV,
				     "unknown CNI_COMMAND",
				     "CNI_COMMAND is '%.64s'; this plugin knows ADD, DEL, CHECK and VERSION",
				     cmd);
	env->command = commands[i].command;
	if (env->command == CNI_CMD_VERSION)
		return 0;

	env->container_id = nonempty(lookup, "CNI_CONTAINERID");
	env->netns = nonempty(lookup, "CNI_NETNS");
	env->ifname = nonempty(lookup, "CNI_IFNAME");
	env->path = nonempty(lookup, "CNI_PATH");
	env->args = lookup("CNI_ARGS");
	if (!env->container_id)
		return cni_error_set(err, CNI_ERR_INVALID_ENV,
				     "CNI_CONTAINERID is not set",
				     "the runtime must name the container");
	if (!is_spec_identifier(env->container_id))
		return cni_error_set(err, CNI_ERR_INVALID_ENV,
				     "CNI_CONTAINERID is not a valid container ID",
				     "it must start with a letter or digit followed by letters, digits, '_', '.' or '-'");
	/* DEL may come after the namespace is gone (spec: CNI_NETNS is
	 * optional for DEL). */
	if (!env->netns && env->command != CNI_CMD_DEL)
		return cni_error_set(err, CNI_ERR_INVALID_ENV,
				     "CNI_NETNS is not set",
				     "set it to the path of the container's network namespace, e.g. /var/run/netns/NAME");
	if (!env->ifname)
		return cni_error_set(err, CNI_ERR_INVALID_ENV,
				     "CNI_IFNAME is not set",
				     "set it to the interface name to create in the container, e.g. eth0");
	if (!cni_ifname_is_valid(env->ifname))
		return cni_error_set(err, CNI_ERR_INVALID_ENV,
				     "CNI_IFNAME is not a valid interface name",
				     "'%.64s': 1 to 15 bytes, no '/', ':' or spaces",
				     env->ifname);
	if (!env->path)
		return cni_error_set(err, CNI_ERR_INVALID_ENV,
				     "CNI_PATH is not set",
				     "set it to the directories holding the IPAM plugin, e.g. /opt/cni/bin:/usr/lib/cni");
	return 0;
}

struct json_object *cni_json_parse(const char *data, size_t len,
				   const char *what, struct cni_error *err)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj;
	enum json_tokener_error jerr;
	size_t end;

	if (!tok) {
		cni_error_set(err, CNI_ERR_IO, "out of memory", NULL);
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, data, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!obj) {
		cni_error_set(err, CNI_ERR_DECODE, "failed to decode JSON",
			      "%s: %s at byte %zu", what,
			      jerr == json_tokener_continue ?
				      "unexpected end of input" :
				      json_tokener_error_desc(jerr),
			      end);
		return NULL;
	}
	while (end < len && isspace((unsigned char)data[end]))
		end++;
	if (end < len) {
		json_object_put(obj);
		cni_error_set(err, CNI_ERR_DECODE, "failed to decode JSON",
			      "%s: unexpected bytes after the JSON value at byte %zu",
			      what, end);
		return NULL;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		cni_error_set(err, CNI_ERR_DECODE, "failed to decode JSON",
			      "%s is not a JSON object", what);
		return NULL;
	}
	return obj;
}

static int bad_field(struct cni_error *err, const char *field,
		     const char *what)
{
	return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			     "invalid network configuration",
			     "\"%s\" %s", field, what);
}

/* A string field: 0 and *out set, 1 when absent, -1 on a wrong type.
 * label names it in messages ("ipam.type"), NULL: field. */
static int get_string(struct json_object *obj, const char *field,
		      const char *label, const char **out, struct cni_error *err)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, field, &v) || !v)
		return 1;
	if (!json_object_is_type(v, json_type_string))
		return bad_field(err, label ? label : field, "must be a string");
	*out = json_object_get_string(v);
	return 0;
}

static int parse_ipam(struct cni_config *cfg, struct cni_error *err)
{
	struct json_object *ipam;
	const char *type = NULL;
	int r;

	if (!json_object_object_get_ex(cfg->root, "ipam", &ipam) || !ipam)
		return bad_field(err, "ipam",
				 "is required: an object naming the IPAM plugin, e.g. {\"type\": \"host-local\", ...}");
	if (!json_object_is_type(ipam, json_type_object))
		return bad_field(err, "ipam", "must be an object");
	r = get_string(ipam, "type", "ipam.type", &type, err);
	if (r < 0)
		return r;
	if (r > 0 || !type[0])
		return bad_field(err, "ipam.type",
				 "is required: the IPAM plugin to run, e.g. host-local");
	if (strlen(type) >= sizeof(cfg->ipam_type) || strchr(type, '/') ||
	    !strcmp(type, ".") || !strcmp(type, ".."))
		return bad_field(err, "ipam.type",
				 "must be a plugin's file name in CNI_PATH (no '/', under 64 bytes)");
	strcpy(cfg->ipam_type, type);
	return 0;
}

static int parse_options(struct cni_config *cfg, struct cni_error *err)
{
	struct json_object *v;
	const char *s;
	size_t i;
	int r;

	if (json_object_object_get_ex(cfg->root, "mtu", &v) && v) {
		int64_t mtu;

		if (!json_object_is_type(v, json_type_int))
			return bad_field(err, "mtu", "must be an integer");
		mtu = json_object_get_int64(v);
		if (mtu < CNI_MTU_MIN || mtu > CNI_MTU_MAX)
			return bad_field(err, "mtu",
					 "must be between 68 and 65535");
		cfg->mtu = (unsigned)mtu;
	}
	strcpy(cfg->xwg_interface, CNI_DEFAULT_XWG_INTERFACE);
	r = get_string(cfg->root, "xwgInterface", NULL, &s, err);
	if (r < 0)
		return r;
	if (r == 0) {
		if (!cni_ifname_is_valid(s))
			return bad_field(err, "xwgInterface",
					 "must be an interface name (1 to 15 bytes, no '/', ':' or spaces)");
		strcpy(cfg->xwg_interface, s);
	}
	strcpy(cfg->host_veth_prefix, CNI_DEFAULT_HOST_VETH_PREFIX);
	r = get_string(cfg->root, "hostVethPrefix", NULL, &s, err);
	if (r < 0)
		return r;
	if (r == 0) {
		if (!s[0] || strlen(s) > CNI_HOST_VETH_PREFIX_MAX)
			return bad_field(err, "hostVethPrefix",
					 "must be 1 to 7 characters (8 hex digits follow it)");
		for (i = 0; s[i]; i++)
			if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
				return bad_field(err, "hostVethPrefix",
						 "may hold only letters, digits, '_', '.' and '-'");
		strcpy(cfg->host_veth_prefix, s);
	}
	if (json_object_object_get_ex(cfg->root, "prevResult", &v) && v) {
		if (!json_object_is_type(v, json_type_object))
			return bad_field(err, "prevResult", "must be an object");
		cfg->prev_result = v;
	}
	if (json_object_object_get_ex(cfg->root, "dns", &v) && v) {
		if (!json_object_is_type(v, json_type_object))
			return bad_field(err, "dns", "must be an object");
		cfg->dns = v;
	}
	return 0;
}

int cni_config_parse(struct cni_config *cfg, const char *data, size_t len,
		     struct cni_error *err)
{
	const char *s;
	int r;

	memset(cfg, 0, sizeof(*cfg));
	cfg->root = cni_json_parse(data, len, "network configuration on stdin",
				   err);
	if (!cfg->root)
		return -1;

	r = get_string(cfg->root, "cniVersion", NULL, &s, err);
	if (r < 0)
		goto err;
	if (r > 0) {
		bad_field(err, "cniVersion", "is required, e.g. \"1.0.0\"");
		goto err;
	}
	if (!cni_version_is_supported(s)) {
		cni_error_set(err, CNI_ERR_INCOMPATIBLE_VERSION,
			      "incompatible CNI version",
			      "cniVersion '%.32s' is not supported; use one of 0.3.0, 0.3.1, 0.4.0, 1.0.0",
			      s);
		goto err;
	}
	strcpy(cfg->version, s);

	r = get_string(cfg->root, "name", NULL, &s, err);
	if (r < 0)
		goto err;
	if (r > 0 || !is_spec_identifier(s)) {
		bad_field(err, "name",
			  r > 0 ? "is required: the network's name" :
				  "must start with a letter or digit followed by letters, digits, '_', '.' or '-'");
		goto err;
	}
	r = get_string(cfg->root, "type", NULL, &s, err);
	if (r < 0)
		goto err;
	if (r > 0 || !s[0]) {
		bad_field(err, "type", "is required: this plugin's name, xwg-cni");
		goto err;
	}
	if (parse_ipam(cfg, err) || parse_options(cfg, err))
		goto err;
	return 0;
err:
	json_object_put(cfg->root);
	cfg->root = NULL;
	cfg->prev_result = cfg->dns = NULL;
	return -1;
}

void cni_config_free(struct cni_config *cfg)
{
	json_object_put(cfg->root);
	cfg->root = cfg->prev_result = cfg->dns = NULL;
}

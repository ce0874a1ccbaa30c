// SPDX-License-Identifier: GPL-2.0
/* xwg-cni: the error object and the supported versions (CNI spec 1.0.0,
 * "Error" and "VERSION"). */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni/cni.h"

const char *const cni_versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", NULL };

int cni_error_set(struct cni_error *err, int code, const char *msg,
		  const char *details_fmt, ...)
{
	va_list ap;

	if (err->code)
		return -1;
	err->code = code;
	snprintf(err->msg, sizeof(err->msg), "%s", msg);
	err->details[0] = '\0';
	if (details_fmt) {
		va_start(ap, details_fmt);
		vsnprintf(err->details, sizeof(err->details), details_fmt, ap);
		va_end(ap);
	}
	return -1;
}

void cni_error_clear(struct cni_error *err)
{
	free(err->passthrough);
	memset(err, 0, sizeof(*err));
}

static char *to_text(struct json_object *obj)
{
	const char *s = json_object_to_json_string_ext(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *copy = s ? strdup(s) : NULL;

	json_object_put(obj);
	return copy;
}

char *cni_error_format(const struct cni_error *err, const char *version)
{
	struct json_object *obj;

	if (err->passthrough)
		return strdup(err->passthrough);
	obj = json_object_new_object();
	if (!obj)
		return NULL;
	if (!version || !cni_version_is_supported(version))
		version = CNI_VERSION_NEWEST;
	json_object_object_add(obj, "cniVersion", json_object_new_string(version));
	json_object_object_add(obj, "code", json_object_new_int(err->code));
	json_object_object_add(obj, "msg", json_object_new_string(err->msg));
	if (err->details[0])
		json_object_object_add(obj, "details",
				       json_object_new_string(err->details));
	return to_text(obj);
}

bool cni_version_is_supported(const char *version)
{
	size_t i;

	for (i = 0; version && cni_versions[i]; i++)
		if (!strcmp(version, cni_versions[i]))
			return true;
	return false;
}

bool cni_version_has_ip_version(const char *version)
{
	return !strncmp(version, "0.", 2);
}

bool cni_version_has_check(const char *version)
{
	return strcmp(version, "0.3.0") && strcmp(version, "0.3.1");
}

char *cni_version_format(void)
{
	struct json_object *obj = json_object_new_object(), *list;
	size_t i;

	if (!obj)
		return NULL;
	list = json_object_new_array();
	for (i = 0; cni_versions[i]; i++)
		json_object_array_add(list, json_object_new_string(cni_versions[i]));
	json_object_object_add(obj, "cniVersion",
			       json_object_new_string(CNI_VERSION_NEWEST));
	json_object_object_add(obj, "supportedVersions", list);
	return to_text(obj);
}

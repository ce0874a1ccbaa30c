/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-cni: what every part of the CNI plugin shares: the spec's error codes
 * and error object, and the spec versions this plugin speaks (CNI spec
 * 1.0.0, "Error" and "Version" sections).
 */
#ifndef XWG_CNI_CNI_H
#define XWG_CNI_CNI_H

#include <stdbool.h>

/* Well-known error codes (CNI spec 1.0.0, "Error"). */
enum cni_error_code {
	CNI_ERR_INCOMPATIBLE_VERSION = 1,
	CNI_ERR_UNSUPPORTED_FIELD = 2,
	CNI_ERR_UNKNOWN_CONTAINER = 3,
	CNI_ERR_INVALID_ENV = 4,
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_INVALID_CONFIG = 7,
	CNI_ERR_TRY_AGAIN = 11,
};

#define CNI_ERROR_MSG_MAX 256
#define CNI_ERROR_DETAILS_MAX 1024

/* An error for the runtime. A delegated plugin's own error object is kept
 * verbatim in passthrough and printed instead of code/msg/details. */
struct cni_error {
	int code;			/* 0: no error */
	char msg[CNI_ERROR_MSG_MAX];
	char details[CNI_ERROR_DETAILS_MAX];
	char *passthrough;		/* malloc'd JSON text, or NULL */
};

/* Record an error (details_fmt may be NULL); returns -1 for `return
 * cni_error_set(...)`. The first error recorded wins: a later one (say, from
 * a rollback) does not hide the cause. */
int cni_error_set(struct cni_error *err, int code, const char *msg,
		  const char *details_fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Forget a recorded error (frees the passthrough). */
void cni_error_clear(struct cni_error *err);
/* The error as the spec's JSON object for version (a supported version, or
 * NULL for the newest). malloc'd; NULL only when out of memory. */
char *cni_error_format(const struct cni_error *err, const char *version);

/* The versions this plugin speaks, oldest first, NULL-terminated. */
extern const char *const cni_versions[];
#define CNI_VERSION_NEWEST "1.0.0"
bool cni_version_is_supported(const char *version);
/* Results before 1.0.0 carry "version" ("4"/"6") in each IP. */
bool cni_version_has_ip_version(const char *version);
/* CHECK exists from 0.4.0 on. */
bool cni_version_has_check(const char *version);
/* The VERSION command's output; malloc'd. */
char *cni_version_format(void);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-cni: delegation to the IPAM plugin the configuration names (CNI spec
 * 1.0.0, "Section 4: Plugin Delegation"): found in CNI_PATH, run with our
 * environment (CNI_COMMAND possibly replaced) and our stdin.
 */
#ifndef XWG_CNI_IPAM_H
#define XWG_CNI_IPAM_H

#include <stddef.h>

#include "cni/cni.h"

/* Run plugin type, found in the colon-separated cni_path, as command with
 * config on its stdin. 0 with its stdout in *out (malloc'd, NUL-terminated).
 * On failure its own error JSON is kept in err->passthrough when it printed
 * one; otherwise err says what went wrong (code 7 when the plugin is not
 * found, 5 when it could not be run or printed no error). */
int cni_ipam_exec(const char *type, const char *cni_path, const char *command,
		  const char *config, size_t config_len, char **out,
		  struct cni_error *err);

#endif

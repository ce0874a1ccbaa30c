/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-cni: the result of ADD (CNI spec 1.0.0, "Section 5: Result Types"),
 * read from an IPAM plugin's output or a prevResult, and written in the
 * version the runtime asked for (0.3.x/0.4.0 add "version" to each IP).
 */
#ifndef XWG_CNI_RESULT_H
#define XWG_CNI_RESULT_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "cni/cni.h"

struct json_object;

#define CNI_RESULT_IFACES_MAX 8
#define CNI_RESULT_IPS_MAX 16
#define CNI_RESULT_ROUTES_MAX 64
#define CNI_SANDBOX_MAX 512

/* An address with a prefix length ("10.1.2.3/24"). */
struct cni_prefix {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* 4 bytes used for AF_INET */
	unsigned len;
};

struct cni_iface {
	char name[IFNAMSIZ];
	char mac[18];		/* "" when not known */
	char sandbox[CNI_SANDBOX_MAX];	/* "" on the host */
};

struct cni_ip {
	struct cni_prefix address;
	bool has_gateway;
	uint8_t gateway[16];
	int iface;		/* index into ifaces, -1 when not given */
};

struct cni_route {
	struct cni_prefix dst;
	bool has_gw;
	uint8_t gw[16];
};

struct cni_result {
	unsigned n_ifaces, n_ips, n_routes;
	struct cni_iface ifaces[CNI_RESULT_IFACES_MAX];
	struct cni_ip ips[CNI_RESULT_IPS_MAX];
	struct cni_route routes[CNI_RESULT_ROUTES_MAX];
	struct json_object *dns;	/* a reference, or NULL */
};

/* Read a result of any supported version (a missing "interfaces" or
 * "interface" is allowed: IPAM plugins give neither). On error code 6 and
 * a message naming the field. */
int cni_result_parse(struct cni_result *res, struct json_object *obj,
		     struct cni_error *err);
/* The result as JSON for version; malloc'd, NULL when out of memory. */
char *cni_result_format(const struct cni_result *res, const char *version);
void cni_result_free(struct cni_result *res);

/* "10.1.2.3/24" or "fd00::1/64" into *p; false unless exactly that. */
bool cni_prefix_parse(struct cni_prefix *p, const char *text);
/* "10.1.2.3" or "fd00::1": family, or 0 when neither. */
int cni_addr_parse(uint8_t addr[16], const char *text);
/* Address byte count for a family. */
static inline unsigned cni_addr_len(int family)
{
	return family == 10 /* AF_INET6 */ ? 16 : 4;
}

#endif

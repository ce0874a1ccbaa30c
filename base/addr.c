// SPDX-License-Identifier: GPL-2.0
/* Addresses as text (base/addr.h). */
#include "base/addr.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

void addr_format(char *out, size_t cap, int family, const uint8_t *a, uint32_t scope_id)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	size_t len = 0;

	if (family == AF_INET) {
		snprintf(out, cap, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		return;
	}
	if (!memcmp(a, v4mapped, sizeof(v4mapped))) {
		len = (size_t)snprintf(out, cap, "::ffff:%u.%u.%u.%u", a[12],
				       a[13], a[14], a[15]);
	} else {
		unsigned int g[8], zstart = 8, zlen = 0, i, j;

		for (i = 0; i < 8; i++)
			g[i] = (unsigned int)a[2 * i] << 8 | a[2 * i + 1];
		for (i = 0; i < 8; i++) {
			for (j = i; j < 8 && !g[j]; j++)
				;
			if (j - i >= 2 && j - i > zlen) {
				zstart = i;
				zlen = j - i;
			}
		}
		for (i = 0; i < 8; i++) {
			if (i == zstart) {
				len += (size_t)snprintf(out + len, cap - len, "::");
				i += zlen - 1;
				continue;
			}
			len += (size_t)snprintf(out + len, cap - len, "%s%x",
						i && i != zstart + zlen ? ":" : "",
						g[i]);
		}
	}
	if (scope_id) {
		char name[IF_NAMESIZE];

		if (if_indextoname(scope_id, name))
			snprintf(out + len, cap - len, "%%%s", name);
		else
			snprintf(out + len, cap - len, "%%%u", scope_id);
	}
}

bool addr_format_endpoint(char *out, size_t cap, const struct sockaddr *sa)
{
	char addr[64];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const void *)sa;

		addr_format(addr, sizeof(addr), AF_INET, (const uint8_t *)&in4->sin_addr, 0);
		snprintf(out, cap, "%s:%u", addr, ntohs(in4->sin_port));
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		addr_format(addr, sizeof(addr), AF_INET6, in6->sin6_addr.s6_addr,
			    in6->sin6_scope_id);
		snprintf(out, cap, "[%s]:%u", addr, ntohs(in6->sin6_port));
		return true;
	}
	if (cap)
		out[0] = '\0';
	return false;
}

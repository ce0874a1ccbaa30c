/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tunnel interface of the fast path: a veth pair. IFNAME (wg0) is what
 * users see and configure; its hidden twin (wg0x) carries the XDP program
 * that hands what the stack sends out of IFNAME to AF_XDP, and AF_XDP TX on
 * the twin injects decrypted packets into IFNAME's receive path
 * (design.md, "The fast path's shape"). A TUN device cannot do either.
 *
 * IFNAME gets what the kernel's wg device has where a veth can have it
 * (NOARP, no MULTICAST, no IPv6 link-local address, MTU 1420) plus:
 *  - a fixed, locally administered MAC (TWIN_LINK_MAC): NOARP makes the
 *    stack put the device's own MAC as the destination of what it sends,
 *    and injected frames must carry it as their destination to be taken in;
 *  - TX checksum offload off, so captured inner packets carry complete
 *    checksums (which the peer's stack verifies after decryption); TSO
 *    goes with it, and native XDP on the twin keeps it off;
 *  - GRO on and threaded NAPI (where /sys/class/net is this namespace's),
 *    so injected packets are coalesced off the injecting thread.
 * IFNAME is left down, like the portable path's TUN: the caller or
 * wg-quick brings it up. The twin comes up at once (a veth has carrier only
 * while its peer is up), with MTU TWIN_LINK_TWIN_MTU so that any MTU later
 * set on IFNAME passes through it.
 *
 * Unlike a TUN device, a veth pair outlives the process that made it: a
 * crashed daemon leaves it behind. The twin carries an ifalias marker
 * ("xwg: hidden twin of IFNAME") so that the next start recognises the
 * leftover and removes it (twin_link_remove_leftover).
 *
 * Every function returns 0 (or a count) on success and -errno on failure;
 * kernel errors are passed through unchanged.
 */
#ifndef XWG_MAPS_TWIN_H
#define XWG_MAPS_TWIN_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

/* The twin's name is IFNAME + TWIN_SUFFIX when that fits in IFNAMSIZ - 1
 * (15) characters, that is for names of up to 14 characters. A 15-character
 * IFNAME instead gets TWIN_LONG_PREFIX + 8 hex digits of the FNV-1a hash of
 * IFNAME + TWIN_SUFFIX ("xwgt1a2b3c4dx", 13 characters): deterministic, so
 * a restart finds a crashed instance's twin, and never equal to IFNAME. */
#define TWIN_SUFFIX "x"
#define TWIN_LONG_PREFIX "xwgt"
/* What the twin's ifalias says, followed by IFNAME. */
#define TWIN_ALIAS_PREFIX "xwg: hidden twin of "

#define TWIN_LINK_MTU 1420U        /* NETDEV_DEFAULT_MTU, as for a TUN */
#define TWIN_LINK_TWIN_MTU 65535U  /* ETH_MAX_MTU: never the bottleneck */
#define TWIN_LINK_MAX_QUEUES 64U   /* XWG_MAX_QUEUES */

/* 02 = locally administered unicast; 78 77 67 = "xwg". */
#define TWIN_LINK_MAC { 0x02, 0x78, 0x77, 0x67, 0x00, 0x01 }
#define TWIN_LINK_TWIN_MAC { 0x02, 0x78, 0x77, 0x67, 0x00, 0x02 }

struct twin_link {
	char name[IFNAMSIZ];       /* IFNAME */
	char twin_name[IFNAMSIZ];  /* its twin */
	int ifindex;
	int twin_ifindex;
	uint8_t mac[6];            /* IFNAME's: destination of injected frames */
	uint8_t twin_mac[6];       /* the twin's: their source */
	unsigned int queues;       /* RX and TX queues of each end */
	bool threaded_napi;        /* threaded NAPI could be set on IFNAME */
	bool gro;                  /* GRO could be turned on on IFNAME */
};

/* Writes the twin's name for IFNAME (the rule above). -EINVAL or
 * -ENAMETOOLONG for a name no interface can have. */
int twin_name_derive(const char *ifname, char twin_name[IFNAMSIZ]);

/*
 * Creates the pair with `queues` RX and TX queues on each end (0 means 1;
 * at most TWIN_LINK_MAX_QUEUES; one AF_XDP socket per twin queue), sets it
 * up as described above and fills *tl. Returns -EEXIST when IFNAME or the
 * twin's name is taken (a crashed instance's pair included: call
 * twin_link_remove_leftover first). On failure nothing is left behind.
 */
int twin_link_create(struct twin_link *tl, const char *ifname,
		     unsigned int queues);
/* Deletes the pair (through the twin, which stays in this namespace: this
 * removes IFNAME even after it was moved to another one). Idempotent. */
void twin_link_destroy(struct twin_link *tl);

/* The ifindexes of IFNAME and of the twin, 0 before create/after destroy. */
int twin_link_ifindex(const struct twin_link *tl);
int twin_link_twin_ifindex(const struct twin_link *tl);

/*
 * Deletes the pair a crashed instance left for IFNAME: the twin's name
 * exists, is a veth and carries the marker alias for IFNAME. Returns 1 if
 * it deleted one, 0 if there was none, -errno on failure. Only call it
 * while holding the right to IFNAME (the fast path's lock, see loader.h):
 * a live instance's pair looks the same.
 */
int twin_link_remove_leftover(const char *ifname);

#endif

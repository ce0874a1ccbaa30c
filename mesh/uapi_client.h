/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-mesh's side of the configuration socket
 * (/var/run/wireguard/IFNAME.sock, the wireguard-go text protocol): one
 * connection per transaction, as wg(8) does, with a deadline so a stuck
 * daemon cannot stall the agent.
 */
#ifndef XWG_MESH_UAPI_CLIENT_H
#define XWG_MESH_UAPI_CLIENT_H

#include <stddef.h>

#include "mesh/reconcile.h"

#define MESH_UAPI_DIR "/var/run/wireguard"
#define MESH_UAPI_TIMEOUT_MS 5000

/* The socket's path for ifname. */
void mesh_uapi_path(const char *ifname, char *buf, size_t len);

/* Send a `set=1` transaction (text ends with the blank line). 0 if the
 * daemon answered errno=0; its negative errno if it refused; -errno of the
 * socket (-ENOENT: no daemon, -ETIMEDOUT, -EPROTO for a garbled answer). */
int mesh_uapi_set(const char *ifname, const char *text, size_t len);

/* `get=1`: 0 and *st (mesh_iface_state_free it), or -errno as above. */
int mesh_uapi_get(const char *ifname, struct mesh_iface_state *st);

#endif

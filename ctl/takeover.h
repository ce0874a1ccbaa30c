/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Live takeover (xwgd --takeover IFNAME): a new xwgd takes a running
 * tunnel over from the old one without a new handshake.
 *
 * The old process listens on UAPI_SOCKET_DIR/IFNAME.takeover, a
 * SOCK_SEQPACKET unix socket beside the configuration socket, mode 0600;
 * it talks only to a peer with uid 0 (SO_PEERCRED). The exchange, one
 * struct takeover_msg per message:
 *
 *   new -> old  HELLO     the data path the new one runs
 *   old -> new  PREPARED  (the old stopped reading after its batch) with
 *                         SCM_RIGHTS: the sealed snapshot memfd, the TUN,
 *                         the UDP sockets, the configuration and takeover
 *                         listening sockets
 *            or REFUSED   why (another data path, ...); the old serves on
 *   new -> old  COMMIT    the snapshot and descriptors are valid
 *            or ABORT     why not; the old resumes
 *   old -> new  DONE      the old one will not touch the tunnel again and
 *                         exits; the new one starts serving
 *            or RESUMED   the old one resumed (it timed out): the new exits
 *
 * Bounded on both sides: the old one waits TAKEOVER_COMMIT_TIMEOUT_MS for
 * COMMIT, then resumes and says why (so a new process that dies or hangs
 * costs that much service at most). After COMMIT the new one never exits
 * on its own: it waits for DONE, for the old one's end (EOF: it died,
 * which is as good), or after TAKEOVER_DONE_TIMEOUT_MS kills it (a pidfd
 * taken while it was talking), since two processes sending on one session
 * would reuse nonces. The old one resumes after COMMIT only when DONE
 * cannot be sent (the new one is gone).
 */
#ifndef XWG_TAKEOVER_H
#define XWG_TAKEOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct wg_device;

#define TAKEOVER_PROTOCOL_VERSION 1U
#define TAKEOVER_HELLO_TIMEOUT_MS 1000
#define TAKEOVER_COMMIT_TIMEOUT_MS 3000
#define TAKEOVER_PREPARED_TIMEOUT_MS 5000
#define TAKEOVER_DONE_TIMEOUT_MS 5000
/* XWG_TAKEOVER_TEST, for the selftest of the recoveries: hang-before-commit
 * or die-before-commit (the new process stops or exits after PREPARED;
 * ctl/xwgd.c), die-after-prepared (a process, once it is the old one,
 * exits right after sending PREPARED), corrupt-snapshot and
 * wrong-version-snapshot (a process, once it is the old one, spoils the
 * first snapshot it sends). */

/* What the old process hands over besides the snapshot. */
struct takeover_fds {
	int tun_fd;
	int udp4, udp6;          /* udp6 -1 where there is no IPv6 */
	int uapi_fd;             /* the configuration socket, listening */
	int takeover_fd;         /* the takeover socket, listening */
	bool tun_vnet;
	unsigned int tun_offloads;
	unsigned int udp_gso;    /* enum udp_gso_mode */
	bool udp_gro;
};

/* The socket path for ifname (UAPI_SOCKET_DIR/ifname.takeover). */
int takeover_path(const char *ifname, char *path, size_t len);
/* Listens there (replacing a stale file): the fd or -errno. */
int takeover_listen(const char *ifname, char *path, size_t len);

/*
 * Old side: listen_fd is readable. Accepts the connection and runs the
 * handoff of dev (its data path stopped meanwhile: the caller is between
 * batches). Returns true when the new process committed (the caller exits
 * without removing the interface or the sockets' files), false when the
 * old one goes on serving (the reason is logged).
 */
bool takeover_serve(int listen_fd, struct wg_device *dev, const struct takeover_fds *fds);

/* New side. */
struct takeover_client {
	int conn;
	int memfd;
	int old_pidfd;           /* -1 if pidfd_open is not available */
	pid_t old_pid;
	struct takeover_fds fds;
};
/* Connects, says HELLO, receives PREPARED. 0, or -errno with why filled
 * (nothing left open). */
int takeover_client_prepare(struct takeover_client *c, const char *ifname, char *why,
			    size_t whylen);
/* The received descriptors are what they claim: the TUN of ifname, UDP
 * sockets bound to port, listening unix sockets. 0 or -EINVAL with why. */
int takeover_client_check(const struct takeover_client *c, const char *ifname, uint16_t port,
			  char *why, size_t whylen);
/* ok: COMMIT, then wait for the old one's end (see above); 0 when this
 * process now owns the tunnel, 1 when it does but must drop the sessions
 * (the old one, killed as hung, had resumed first: their counters are
 * spent), -EAGAIN when the old one resumed. !ok: ABORT with why; closes the
 * received descriptors. Closes the connection, the memfd and the pidfd
 * either way. */
int takeover_client_finish(struct takeover_client *c, bool ok, const char *why);

#endif

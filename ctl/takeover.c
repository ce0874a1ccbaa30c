// SPDX-License-Identifier: GPL-2.0
/*
 * The takeover handoff (ctl/takeover.h): the socket, the messages with
 * their descriptors, and the bounded waits of both sides.
 */
#include "ctl/takeover.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/device.h"
#include "base/log.h"
#include "base/platform.h"
#include "ctl/snapshot.h"
#include "ctl/uapi.h"

#define TAKEOVER_MAGIC "XWGTKOV"  /* and its NUL: 8 bytes */

enum takeover_type {
	MSG_HELLO = 1,
	MSG_PREPARED,
	MSG_REFUSED,
	MSG_COMMIT,
	MSG_ABORT,
	MSG_DONE,
	MSG_RESUMED,
};

/* PREPARED's descriptors, in this order; udp6 only with FD_UDP6. */
#define FD_UDP6 1U
#define MAX_FDS 6

struct takeover_msg {
	char magic[8];
	uint32_t version;
	uint32_t type;
	uint32_t datapath;       /* enum snapshot_datapath */
	uint32_t pid;            /* the sender's */
	uint32_t fd_flags;       /* PREPARED: FD_* */
	uint32_t tun_vnet, tun_offloads, udp_gso, udp_gro;
	char text[160];          /* REFUSED, ABORT, RESUMED: why */
};

static const char *const type_names[] = {
	"?", "HELLO", "PREPARED", "REFUSED", "COMMIT", "ABORT", "DONE", "RESUMED",
};

static const char *type_name(uint32_t t)
{
	return t < sizeof(type_names) / sizeof(type_names[0]) ? type_names[t] : "?";
}

int takeover_path(const char *ifname, char *path, size_t len)
{
	int n = snprintf(path, len, "%s/%s.takeover", UAPI_SOCKET_DIR, ifname);

	return n < 0 || (size_t)n >= len || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path) ?
		-ENAMETOOLONG : 0;
}

int takeover_listen(const char *ifname, char *path, size_t len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old_umask;
	int fd, ret;

	ret = takeover_path(ifname, sun.sun_path, sizeof(sun.sun_path));
	if (ret)
		return ret;
	if (path)
		snprintf(path, len, "%s", sun.sun_path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The configuration socket's directory exists (uapi_listen made it).
	 * A file left by a crash is replaced; a live one belongs to another
	 * xwgd of this name, which the configuration socket already ruled
	 * out, so it is stale too. */
	unlink(sun.sun_path);
	old_umask = umask(077);
	ret = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (ret || listen(fd, 4)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* ---- messages ---- */

static void msg_init(struct takeover_msg *m, enum takeover_type type, const char *text)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->magic, TAKEOVER_MAGIC, 8);
	m->version = TAKEOVER_PROTOCOL_VERSION;
	m->type = type;
	m->datapath = SNAPSHOT_DATAPATH_PORTABLE;
	m->pid = (uint32_t)getpid();
	if (text)
		snprintf(m->text, sizeof(m->text), "%s", text);
}

static int msg_send(int fd, const struct takeover_msg *m, const int *fds, unsigned int nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
	} cm;
	struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(*m))
		return errno ? -errno : -EIO;
	return 0;
}

/* Waits up to timeout_ms for one message: 0, -ETIMEDOUT, -ECONNRESET
 * (EOF: the other side closed or died), -EPROTO (not a message of ours),
 * or -errno. Descriptors that came with it go to fds[] (*nfds of them);
 * any beyond max are closed, as are all on error. */
static int msg_recv(int fd, struct takeover_msg *m, int timeout_ms, int *fds, unsigned int *nfds,
		    unsigned int max)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
	} cm;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
			     .msg_controllen = sizeof(cm.buf) };
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	xwg_time_t deadline = platform_now() + (xwg_time_t)timeout_ms * 1000000ULL;
	struct cmsghdr *c;
	unsigned int got = 0, i;
	ssize_t n;
	int ret;

	if (nfds)
		*nfds = 0;
	/* A message already queued wins over a deadline that passed while
	 * this process did not run: the old process must never resume with
	 * a COMMIT waiting (see takeover_client_finish). */
	for (;;) {
		xwg_time_t now = platform_now();
		int wait_ms = now >= deadline ? 0 : (int)((deadline - now) / 1000000ULL) + 1;

		ret = poll(&pfd, 1, wait_ms);
		if (ret > 0)
			break;
		if (ret < 0 && errno != EINTR)
			return -errno;
		if (!ret && !wait_ms)
			return -ETIMEDOUT;
	}
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return errno == ECONNRESET ? -ECONNRESET : -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		int *p = (int *)CMSG_DATA(c);
		unsigned int k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (i = 0; i < k; i++) {
			int f;

			memcpy(&f, p + i, sizeof(f));
			if (fds && got < max)
				fds[got++] = f;
			else
				close(f);
		}
	}
	ret = 0;
	if (n == 0)
		ret = -ECONNRESET;
	else if ((size_t)n != sizeof(*m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
		 memcmp(m->magic, TAKEOVER_MAGIC, 8))
		ret = -EPROTO;
	else if (m->version != TAKEOVER_PROTOCOL_VERSION)
		ret = -EPROTONOSUPPORT;
	if (ret) {
		for (i = 0; i < got; i++)
			close(fds[i]);
		got = 0;
	}
	m->text[sizeof(m->text) - 1] = 0;
	if (nfds)
		*nfds = got;
	return ret;
}

/* ---- old side ---- */

/* XWG_TAKEOVER_TEST, for the selftest of the new process's checks:
 * corrupt-snapshot flips a bit in the middle of the first snapshot sent,
 * wrong-version-snapshot makes it version 2 (with a checksum that
 * matches). The writer's mapping
 * is still writable (F_SEAL_FUTURE_WRITE). */
static void test_spoil_snapshot(struct snapshot_memfd *snap)
{
	const char *t = getenv("XWG_TAKEOVER_TEST");
	uint32_t v2 = htole32(SNAPSHOT_VERSION + 1);
	static bool spoilt;

	/* Once: a later takeover of this process must work. */
	if (!t || !snap->map || spoilt)
		return;
	spoilt = true;
	if (!strcmp(t, "corrupt-snapshot")) {
		snap->map[snap->len / 2] ^= 0x10;
	} else if (!strcmp(t, "wrong-version-snapshot")) {
		memcpy(snap->map + 8, &v2, sizeof(v2));
		snapshot_checksum_fix(snap->map, snap->len);
	} else {
		return;
	}
	log_info("XWG_TAKEOVER_TEST: the snapshot is spoilt (%s)", t);
}

static void refuse(int conn, const char *why)
{
	struct takeover_msg m;

	log_error("takeover refused: %s; serving on", why);
	msg_init(&m, MSG_REFUSED, why);
	msg_send(conn, &m, NULL, 0);
}

bool takeover_serve(int listen_fd, struct wg_device *dev, const struct takeover_fds *fds)
{
	struct snapshot_memfd snap = { .fd = -1 };
	struct takeover_msg m;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	int conn, send_fds[MAX_FDS], ret;
	unsigned int n = 0;
	xwg_time_t t0;
	bool committed = false;

	conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return false;
	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &clen) || cred.uid != 0) {
		log_error("takeover: a connection from uid %d refused (root only)",
			  clen == sizeof(cred) ? (int)cred.uid : -1);
		close(conn);
		return false;
	}
	ret = msg_recv(conn, &m, TAKEOVER_HELLO_TIMEOUT_MS, NULL, NULL, 0);
	if (ret || m.type != MSG_HELLO) {
		log_error("takeover: no HELLO from PID %d (%s); serving on", (int)cred.pid,
			  ret ? strerror(-ret) : type_name(m.type));
		close(conn);
		return false;
	}
	log_info("takeover: PID %d asks for %s", (int)cred.pid, dev->ifname);
	if (dev->fast) {
		refuse(conn, "the xdp data path cannot be handed over yet (portable only)");
		goto out;
	}
	if (m.datapath != SNAPSHOT_DATAPATH_PORTABLE) {
		refuse(conn, "the new process runs another data path (xdp), this one portable");
		goto out;
	}

	/* From here on nothing is read or sent until the outcome: the
	 * sessions' counters in the snapshot stay the last ones used. */
	t0 = platform_now();
	ret = snapshot_memfd_create(dev, &snap);
	if (ret) {
		char why[96];

		snprintf(why, sizeof(why), "cannot write the snapshot: %s", strerror(-ret));
		refuse(conn, why);
		goto out;
	}
	test_spoil_snapshot(&snap);
	send_fds[n++] = snap.fd;
	send_fds[n++] = fds->tun_fd;
	send_fds[n++] = fds->udp4;
	if (fds->udp6 >= 0)
		send_fds[n++] = fds->udp6;
	send_fds[n++] = fds->uapi_fd;
	send_fds[n++] = fds->takeover_fd;
	msg_init(&m, MSG_PREPARED, NULL);
	m.fd_flags = fds->udp6 >= 0 ? FD_UDP6 : 0;
	m.tun_vnet = fds->tun_vnet;
	m.tun_offloads = fds->tun_offloads;
	m.udp_gso = fds->udp_gso;
	m.udp_gro = fds->udp_gro;
	ret = msg_send(conn, &m, send_fds, n);
	if (ret) {
		log_error("takeover: cannot send the state: %s; serving on", strerror(-ret));
		goto out;
	}
	/* For the selftest: the old process dies in the middle. */
	if (getenv("XWG_TAKEOVER_TEST") && !strcmp(getenv("XWG_TAKEOVER_TEST"), "die-after-prepared")) {
		log_info("XWG_TAKEOVER_TEST: exiting after PREPARED");
		_exit(3);
	}
	ret = msg_recv(conn, &m, TAKEOVER_COMMIT_TIMEOUT_MS, NULL, NULL, 0);
	if (ret == -ETIMEDOUT) {
		msg_init(&m, MSG_RESUMED, "no commit in time");
		msg_send(conn, &m, NULL, 0);
		log_error("takeover: PID %d did not commit within %d ms (hung?); resuming",
			  (int)cred.pid, TAKEOVER_COMMIT_TIMEOUT_MS);
		goto out;
	}
	if (ret) {
		log_error("takeover: PID %d went away before committing (%s); resuming",
			  (int)cred.pid, ret == -ECONNRESET ? "died or closed" : strerror(-ret));
		goto out;
	}
	if (m.type == MSG_ABORT) {
		log_error("takeover: PID %d aborted: %s; resuming", (int)cred.pid, m.text);
		goto out;
	}
	if (m.type != MSG_COMMIT) {
		log_error("takeover: PID %d sent %s, not COMMIT; resuming", (int)cred.pid,
			  type_name(m.type));
		goto out;
	}
	msg_init(&m, MSG_DONE, NULL);
	ret = msg_send(conn, &m, NULL, 0);
	if (ret) {
		/* It committed and is gone: nobody serves unless we do. */
		log_error("takeover: PID %d committed but cannot be told (%s); resuming",
			  (int)cred.pid, strerror(-ret));
		goto out;
	}
	log_info("takeover: handed %s over to PID %d after %llu us; exiting", dev->ifname,
		 (int)cred.pid, (unsigned long long)((platform_now() - t0) / 1000));
	committed = true;
out:
	snapshot_memfd_wipe(&snap);
	close(conn);
	return committed;
}

/* ---- new side ---- */

static void close_fds(struct takeover_fds *f)
{
	int *all[] = { &f->tun_fd, &f->udp4, &f->udp6, &f->uapi_fd, &f->takeover_fd };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (*all[i] >= 0)
			close(*all[i]);
		*all[i] = -1;
	}
}

int takeover_client_prepare(struct takeover_client *c, const char *ifname, char *why,
			    size_t whylen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct takeover_msg m;
	int fds[MAX_FDS], ret;
	unsigned int n, want, i = 0;

	memset(c, 0, sizeof(*c));
	c->conn = c->memfd = c->old_pidfd = -1;
	c->fds = (struct takeover_fds){ .tun_fd = -1, .udp4 = -1, .udp6 = -1, .uapi_fd = -1,
					.takeover_fd = -1 };
	ret = takeover_path(ifname, sun.sun_path, sizeof(sun.sun_path));
	if (ret) {
		snprintf(why, whylen, "interface name too long for a socket path");
		return ret;
	}
	c->conn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->conn < 0 || connect(c->conn, (struct sockaddr *)&sun, sizeof(sun))) {
		ret = -errno;
		snprintf(why, whylen, "cannot connect to %s: %s (is xwgd running for %s?)",
			 sun.sun_path, strerror(errno), ifname);
		goto err;
	}
	msg_init(&m, MSG_HELLO, NULL);
	ret = msg_send(c->conn, &m, NULL, 0);
	if (ret) {
		snprintf(why, whylen, "cannot send HELLO: %s", strerror(-ret));
		goto err;
	}
	ret = msg_recv(c->conn, &m, TAKEOVER_PREPARED_TIMEOUT_MS, fds, &n, MAX_FDS);
	if (ret) {
		snprintf(why, whylen, "no answer from the running xwgd: %s",
			 ret == -ECONNRESET ? "it closed the connection" :
			 ret == -EPROTONOSUPPORT ? "another takeover protocol version" :
			 strerror(-ret));
		goto err;
	}
	if (m.type == MSG_REFUSED) {
		snprintf(why, whylen, "the running xwgd refused: %s", m.text);
		ret = -EPROTO;
		goto err_fds;
	}
	want = 5 + !!(m.fd_flags & FD_UDP6);
	if (m.type != MSG_PREPARED || n != want || m.datapath != SNAPSHOT_DATAPATH_PORTABLE) {
		snprintf(why, whylen, "the running xwgd sent %s with %u descriptors (want PREPARED "
			 "with %u)", type_name(m.type), n, want);
		ret = -EPROTO;
		goto err_fds;
	}
	c->memfd = fds[i++];
	c->fds.tun_fd = fds[i++];
	c->fds.udp4 = fds[i++];
	if (m.fd_flags & FD_UDP6)
		c->fds.udp6 = fds[i++];
	c->fds.uapi_fd = fds[i++];
	c->fds.takeover_fd = fds[i++];
	c->fds.tun_vnet = m.tun_vnet;
	c->fds.tun_offloads = m.tun_offloads;
	c->fds.udp_gso = m.udp_gso;
	c->fds.udp_gro = m.udp_gro;
	c->old_pid = (pid_t)m.pid;
	/* Taken now, while it is certainly this process: a kill later cannot
	 * hit a reused PID. */
	c->old_pidfd = (int)syscall(SYS_pidfd_open, c->old_pid, 0);
	return 0;
err_fds:
	for (i = 0; i < n; i++)
		close(fds[i]);
err:
	if (c->conn >= 0)
		close(c->conn);
	c->conn = -1;
	return ret ? ret : -EPROTO;
}

static bool is_listening_unix(int fd)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	int on = 0;
	socklen_t olen = sizeof(on);

	return !getsockname(fd, (struct sockaddr *)&sun, &len) && sun.sun_family == AF_UNIX &&
	       !getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) && on;
}

static bool is_udp_on(int fd, int family, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type = 0;
	socklen_t tlen = sizeof(type);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) || ss.ss_family != family ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) || type != SOCK_DGRAM)
		return false;
	return ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
				       : ((struct sockaddr_in6 *)&ss)->sin6_port) == port;
}

int takeover_client_check(const struct takeover_client *c, const char *ifname, uint16_t port,
			  char *why, size_t whylen)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(c->fds.tun_fd, TUNGETIFF, &ifr) || strncmp(ifr.ifr_name, ifname, IFNAMSIZ)) {
		snprintf(why, whylen, "the tunnel descriptor is not the TUN %s", ifname);
		return -EINVAL;
	}
	if (!!(ifr.ifr_flags & IFF_VNET_HDR) != c->fds.tun_vnet) {
		snprintf(why, whylen, "the TUN's virtio-net header flag disagrees with the message");
		return -EINVAL;
	}
	if (!is_udp_on(c->fds.udp4, AF_INET, port) ||
	    (c->fds.udp6 >= 0 && !is_udp_on(c->fds.udp6, AF_INET6, port))) {
		snprintf(why, whylen, "the UDP descriptors are not bound to port %u", port);
		return -EINVAL;
	}
	if (!is_listening_unix(c->fds.uapi_fd) || !is_listening_unix(c->fds.takeover_fd)) {
		snprintf(why, whylen, "the socket descriptors are not listening unix sockets");
		return -EINVAL;
	}
	return 0;
}

/* The old one is gone: wait for its pidfd (readable on exit), bounded. */
static bool old_exited(const struct takeover_client *c, int timeout_ms)
{
	struct pollfd pfd = { .fd = c->old_pidfd, .events = POLLIN };

	if (c->old_pidfd < 0)
		return kill(c->old_pid, 0) && errno == ESRCH;
	return poll(&pfd, 1, timeout_ms) > 0;
}

int takeover_client_finish(struct takeover_client *c, bool ok, const char *why)
{
	struct takeover_msg m;
	int ret;

	if (!ok) {
		msg_init(&m, MSG_ABORT, why);
		msg_send(c->conn, &m, NULL, 0);
		close_fds(&c->fds);
		ret = -ECANCELED;
		goto out;
	}
	msg_init(&m, MSG_COMMIT, NULL);
	/* Even when the send fails (the old one closed its end) its last
	 * word may be queued: RESUMED must be seen. */
	msg_send(c->conn, &m, NULL, 0);
	ret = msg_recv(c->conn, &m, TAKEOVER_DONE_TIMEOUT_MS, NULL, NULL, 0);
	if (!ret && m.type == MSG_DONE) {
		/* It exits now and touches nothing on its way out; we serve
		 * at once rather than wait for it. */
		goto out;
	}
	if (!ret && m.type == MSG_RESUMED) {
		log_error("takeover: the running xwgd resumed (%s): it keeps %s", m.text,
			  "the tunnel");
		close_fds(&c->fds);
		ret = -EAGAIN;
		goto out;
	}
	if (ret == -ECONNRESET) {
		/* EOF without an answer: the old one died, or ends now. */
		log_info("takeover: PID %d ended without confirming; taking over",
			 (int)c->old_pid);
		ret = 0;
		goto out;
	}
	/* No answer: it hangs with our commit unread and could wake up and
	 * serve the same sessions. It must not. */
	log_error("takeover: PID %d did not confirm within %d ms (%s); killing it",
		  (int)c->old_pid, TAKEOVER_DONE_TIMEOUT_MS,
		  ret ? strerror(-ret) : type_name(m.type));
	if (c->old_pidfd >= 0)
		syscall(SYS_pidfd_send_signal, c->old_pidfd, SIGKILL, NULL, 0);
	else
		kill(c->old_pid, SIGKILL);
	if (!old_exited(c, 2000))
		log_error("takeover: PID %d is still there after SIGKILL", (int)c->old_pid);
	/* It may have woken between our wait and the kill, resumed and sent
	 * with the snapshot's counters: then those sessions are spent. */
	ret = msg_recv(c->conn, &m, 0, NULL, NULL, 0);
	if (!ret && m.type == MSG_RESUMED) {
		log_error("takeover: PID %d resumed before it was killed: its sessions are "
			  "dropped, the peers handshake again", (int)c->old_pid);
		ret = 1;
		goto out;
	}
	ret = 0;
out:
	if (c->memfd >= 0)
		close(c->memfd);
	if (c->old_pidfd >= 0)
		close(c->old_pidfd);
	close(c->conn);
	c->memfd = c->old_pidfd = c->conn = -1;
	return ret;
}

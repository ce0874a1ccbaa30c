/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The configuration socket that wg(8), wg-quick(8) and wgctrl speak to
 * userspace WireGuard implementations ("cross-platform userspace
 * interface", https://www.wireguard.com/xplatform/), answering byte for
 * byte as wireguard-go does (device/uapi.go, ipc/uapi_unix.go), errno values
 * included.
 *
 * Operations, one after another on a connection:
 *   "get=1\n\n"                 -> key=value lines, then "errno=0\n\n"
 *   "set=1\n" key=value... "\n" -> "errno=0\n\n" or "errno=-N\n\n"
 * Anything else as the operation line closes the connection without a
 * reply; "get=1\n" followed by a byte other than '\n' is answered with
 * errno=-22 and the connection stays open.
 *
 * Deliberate difference: a set transaction is all or nothing. It is parsed
 * and checked up to its blank line into a struct uapi_set first; only a
 * wholly valid transaction reaches uapi_ops.set, which should apply it
 * without partial failure. On the first bad line the reply carries the errno
 * wireguard-go gives for that line, nothing is applied, and the connection
 * is closed.
 */
#ifndef XWG_UAPI_H
#define XWG_UAPI_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define UAPI_SOCKET_DIR "/var/run/wireguard"
/* wireguard-go reads a set transaction with a bufio.Scanner, whose token
 * limit (64 KiB including the '\n') turns a longer line into -EIO. */
#define UAPI_LINE_MAX (64 * 1024 - 1)
/* Our own bound on one set transaction; more is answered -EMSGSIZE. */
#define UAPI_SET_MAX_BYTES (128U * 1024 * 1024)
/* How long a reply may take to drain into a slow reader before we give up
 * on the connection (the daemon's loop is blocked meanwhile). */
#define UAPI_WRITE_TIMEOUT_MS 10000

/* One allowed_ip line. addr is in network order with the host bits past
 * cidr cleared (4 bytes used for AF_INET). remove: the line was
 * "allowed_ip=-CIDR", which removes that exact prefix if this peer owns it
 * and is a no-op otherwise. An IPv4-mapped IPv6 prefix (::ffff:a.b.c.d/n)
 * stays AF_INET6, as in wireguard-go. */
struct uapi_allowed_ip {
	uint8_t family;  /* AF_INET or AF_INET6 */
	uint8_t cidr;    /* <= 32 or <= 128 */
	bool remove;
	uint8_t addr[16];
};

/*
 * One staged peer entry. The daemon applies the entries of a transaction in
 * order, each like this (which reproduces wireguard-go's line-by-line
 * effect):
 *  1. If public_key equals the device's public key (after this
 *     transaction's private_key, if any), skip the entry: wireguard-go
 *     ignores such a peer. (With no private key ever set, its public key is
 *     all zeros.)
 *  2. remove: delete the peer if it exists; the entry carries nothing else.
 *  3. If no peer has public_key: skip the entry when update_only, else
 *     create the peer (a bare "public_key=" line creates one).
 *  4. Set the preshared key (all zeros = none), endpoint and persistent
 *     keepalive interval that are present.
 *  5. replace_allowed_ips: drop all of the peer's allowed IPs.
 *  6. allowed_ips in order: insert (taking the prefix from any other peer,
 *     moving it to the end of this peer's list) or, with remove, delete the
 *     exact prefix if this peer owns it.
 * The same key may appear in several entries (e.g. removed then re-added);
 * the parser splits one "public_key=" section into several entries where
 * that is needed to keep the order of its lines.
 */
struct uapi_peer {
	uint8_t public_key[32];
	bool remove;
	bool update_only;
	bool replace_allowed_ips;
	bool has_preshared_key;
	bool has_endpoint;
	bool has_persistent_keepalive_interval;
	uint16_t persistent_keepalive_interval;  /* seconds, 0 = off */
	uint8_t preshared_key[32];
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;  /* sin6_scope_id from "%zone" */
	} endpoint;
	struct uapi_allowed_ip *allowed_ips;
	size_t n_allowed_ips, cap_allowed_ips;
};

/*
 * A staged set transaction. The device part comes first (wireguard-go
 * takes device keys only before the first public_key line). Apply order:
 * listen_port and fwmark (the only steps that may fail: return
 * -EADDRINUSE, as wireguard-go does, before changing anything), then
 * private_key (all zeros clears it; a non-zero key is already clamped, as
 * wireguard-go stores it; peers whose public key equals the new public key
 * are removed), then replace_peers (remove every peer), then the peers.
 */
struct uapi_set {
	bool has_private_key;
	bool has_listen_port;
	bool has_fwmark;
	bool replace_peers;
	uint8_t private_key[32];
	uint16_t listen_port;  /* 0 = pick a free port */
	uint32_t fwmark;       /* 0 = none */
	struct uapi_peer *peers;
	size_t n_peers, cap_peers;
};

/*
 * Parses the lines of one set transaction: text holds what follows
 * "set=1\n", up to and including its blank line (anything after the first
 * blank line is ignored; text that ends without one ends the transaction
 * there, as EOF does for wireguard-go). A trailing '\r' is dropped from
 * every line. Linear in len. Returns 0, or on the first bad line the
 * negative errno wireguard-go replies with:
 *   -EPROTO  a line without '='
 *   -EINVAL  an unknown key (device keys after a public_key line are
 *            unknown), or a bad value
 *   -EIO     a line of more than UAPI_LINE_MAX bytes
 *   -ENOMEM  out of memory (ours)
 * *set is always left valid for uapi_set_free (and empty on failure).
 */
int uapi_set_parse(struct uapi_set *set, const char *text, size_t len);
/* Wipes the keys (sodium_memzero) and frees; *set is empty afterwards. */
void uapi_set_free(struct uapi_set *set);

/*
 * A growable buffer for get replies. A failed allocation sets oom and drops
 * further output; the connection then answers -ENOMEM. Every buffer that
 * held the reply is wiped (it carries the private and preshared keys).
 *
 * What a get reply holds, in wireguard-go's order and omissions:
 *   private_key=HEX                     only when not all zeros
 *   listen_port=N                       only when not 0 (the bound port)
 *   fwmark=N                            only when not 0
 *   then per peer:
 *   public_key=HEX
 *   preshared_key=HEX                   always (zeros when none)
 *   protocol_version=1
 *   endpoint=ADDR:PORT                  only when the peer has one
 *   last_handshake_time_sec=N           0 when never
 *   last_handshake_time_nsec=N
 *   tx_bytes=N
 *   rx_bytes=N
 *   persistent_keepalive_interval=N     always (0 when off)
 *   allowed_ip=PREFIX                   one per prefix, per-peer list order
 * The connection appends "errno=0\n\n".
 */
struct uapi_buf {
	char *data;
	size_t len, cap;
	bool oom;
};

void uapi_buf_printf(struct uapi_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "key=hex\n", lowercase. */
void uapi_buf_put_hex(struct uapi_buf *b, const char *key,
		      const uint8_t *bytes, size_t n);
/* "endpoint=1.2.3.4:51820\n" or "endpoint=[2001:db8::1]:51820\n", the
 * address written as Go's netip writes it (RFC 5952 zero compression,
 * "::ffff:1.2.3.4" for IPv4-mapped; "%zone" from sin6_scope_id, the
 * interface name or else the number). Other families write nothing. */
void uapi_buf_put_endpoint(struct uapi_buf *b, const struct sockaddr *sa);
/* "allowed_ip=10.0.0.0/24\n" (addr 4 or 16 bytes, network order). */
void uapi_buf_put_allowed_ip(struct uapi_buf *b, int family,
			     const void *addr, uint8_t cidr);
void uapi_buf_free(struct uapi_buf *b);

/* What the daemon provides to a connection. */
struct uapi_ops {
	/* Apply a valid transaction (see struct uapi_set for the order):
	 * 0 or -errno (e.g. -EADDRINUSE). NULL accepts and ignores. */
	int (*set)(void *ctx, const struct uapi_set *set);
	/* Append the lines of a get reply (without the errno line): 0 or
	 * -errno, which is then the reply's only line. */
	int (*get)(void *ctx, struct uapi_buf *out);
	void *ctx;
};

/* One accepted connection. Fields are internal. */
struct uapi_conn {
	int fd;
	int state;
	int write_timeout_ms;  /* UAPI_WRITE_TIMEOUT_MS; tests lower it */
	char *buf;             /* input; consumed bytes are wiped */
	size_t start, len, cap;
	size_t scan;           /* where the search for '\n' resumes */
	size_t line_start;     /* current line of a set transaction */
};

/* fd: a connected, non-blocking stream socket (see uapi_accept). */
void uapi_conn_init(struct uapi_conn *c, int fd);
/*
 * Call when fd is readable. Reads until EAGAIN, handles every complete
 * operation buffered (writing each reply fully, waiting up to
 * write_timeout_ms for a slow reader) and returns 1 to keep the connection,
 * or 0 when it is to be closed: EOF, a read or write error, an invalid
 * operation, a failed set. Works with level- and edge-triggered epoll.
 * At EOF inside a set transaction the lines received so far form the
 * transaction (wireguard-go applies them too) and are answered, then 0.
 */
int uapi_conn_on_readable(struct uapi_conn *c, const struct uapi_ops *ops);
/* Wipes and frees the input buffer and closes fd. */
void uapi_conn_close(struct uapi_conn *c);

/*
 * Creates the listening socket DIR/IFNAME.sock (DIR is UAPI_SOCKET_DIR when
 * NULL, made with mode 0755 and parents if missing) as wireguard-go does:
 * bound under umask 077 (so the socket is srwx------), a stale socket file
 * replaced, a live one (a connect succeeds) refused with -EADDRINUSE.
 * Returns the non-blocking, close-on-exec listening fd, or -errno
 * (-ENAMETOOLONG when the path does not fit a sockaddr_un). path_out gets
 * the path when not NULL.
 */
int uapi_listen(const char *dir, const char *ifname, char *path_out,
		size_t path_len);
/* Accepts one connection: non-blocking, close-on-exec fd, or -errno
 * (-EAGAIN when none is pending). */
int uapi_accept(int listen_fd);
/* Closes fd and unlinks path (either may be -1 / NULL). */
void uapi_unlisten(int fd, const char *path);

#endif

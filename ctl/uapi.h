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
 * Replies never block the daemon: each connection buffers its reply and
 * sends it as the reader takes it (the caller waits for writability while
 * output is pending). The protocol is request/reply, so while a reply is
 * pending nothing more is read from that connection; a connection thus
 * holds at most one reply, as large as that reply is. What bounds memory is
 * the server (struct uapi_server): a bounded number of connections, and
 * bounds on the replies pending and on the input buffered over all of them.
 * A large get reply may be built in pieces between events (uapi_ops
 * .get_piece), so that building it does not hold up the packets either.
 *
 * Deliberate difference: a set transaction is all or nothing. It is parsed
 * and checked up to its blank line into a struct uapi_set first; only a
 * wholly valid transaction reaches uapi_ops.set, which applies it whole or
 * undoes what it did before answering an error. On the first bad line the
 * reply carries the errno wireguard-go gives for that line, nothing is
 * applied, and the connection is closed.
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
/* A connection whose pending reply makes no progress (the reader takes
 * nothing) for this long is closed. */
#define UAPI_WRITE_TIMEOUT_MS 30000
/* A connection holding part of a request (an operation line without its
 * '\n', a set transaction without its blank line) that receives nothing
 * for this long is closed. A connection between requests is never timed
 * out (wireguard-go keeps idle connections too). */
#define UAPI_READ_TIMEOUT_MS 30000
/* Connections served at once by a uapi_server; the caller leaves further
 * ones in the listen backlog (uapi_server_is_full). */
#define UAPI_CONNS_MAX 64
/* Replies pending over all of a server's connections. A get reply is
 * always taken when no other reply is pending, so the largest legitimate
 * one (a few hundred bytes per peer and allowed IP: hundreds of MB at the
 * peer limit) always goes through; otherwise one that would take the sum
 * past this bound is answered errno=-12 (-ENOMEM) instead. Memory for
 * pending replies is thus at most max(this, the largest reply). */
#define UAPI_PENDING_MAX (64U * 1024 * 1024)
/* Input buffered over all of a server's connections (set transactions
 * waiting for their blank line): a connection whose buffer would take the
 * sum past this is answered errno=-12 (-ENOMEM) and closed, its buffer
 * freed. Each connection may always buffer its first 128 KiB, so a small
 * request always goes through. Memory for input is thus at most this plus
 * 128 KiB per connection, not UAPI_CONNS_MAX * UAPI_SET_MAX_BYTES. */
#define UAPI_INPUT_MAX (256U * 1024 * 1024)
/* What one call handles before it returns to the event loop, so a fast
 * reader or writer of a large reply or transaction does not hold up the
 * packets: at most this much read and this much written. */
#define UAPI_BURST_BYTES (1U * 1024 * 1024)

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
 * listen_port and fwmark (-EADDRINUSE, as wireguard-go answers, for a port
 * in use), then private_key (all zeros clears it; a non-zero key is
 * already clamped, as wireguard-go stores it; peers whose public key equals
 * the new public key are removed), then replace_peers (remove every peer),
 * then the peers. Whatever step fails (a port, out of memory, a map write
 * of the fast path), the daemon undoes the steps before it: a reply other
 * than errno=0 means nothing changed (ctl/device.c, device_config_set).
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
/* Room for extra more bytes at once (oom if not): a reply whose size is
 * known roughly grows by one allocation, not by doubling, which copies
 * and wipes what is written so far each time. */
void uapi_buf_reserve(struct uapi_buf *b, size_t extra);
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

/* Restarts of a get built in pieces before it is built in one go. */
#define UAPI_GET_RESTARTS 3

/* What the daemon provides to a connection. */
struct uapi_ops {
	/* Apply a valid transaction (see struct uapi_set for the order):
	 * 0, or -errno (e.g. -EADDRINUSE) with nothing of it applied. NULL
	 * accepts and ignores. */
	int (*set)(void *ctx, const struct uapi_set *set);
	/* Append the lines of a get reply (without the errno line): 0 or
	 * -errno, which is then the reply's only line. */
	int (*get)(void *ctx, struct uapi_buf *out);
	/*
	 * Optional (both or neither): the same reply in pieces, so that
	 * building a large one (20,000 peers: tens of milliseconds) does
	 * not hold up the packets. get_piece appends the next lines (*pos
	 * NULL: from the start), sets *pos to where it goes on, and returns
	 * 1 while more follows, 0 after the last piece, or -errno. The
	 * connection builds one piece per call of uapi_conn_on_event
	 * (asking to wait for writability meanwhile, which a socket with
	 * room has at once) and sends nothing before the reply is whole.
	 * generation says whether *pos is still valid: when it changed
	 * since the first piece (a set came in between), what was built is
	 * thrown away and the build starts over, so a reply is never torn
	 * between two configurations; after UAPI_GET_RESTARTS starts, the
	 * reply is built in one go with get (a stream of sets cannot starve
	 * a reader).
	 */
	int (*get_piece)(void *ctx, void **pos, struct uapi_buf *out);
	uint64_t (*generation)(void *ctx);
	void *ctx;
};

struct uapi_server;

/* One accepted connection. Fields are internal, but for the timeouts. */
struct uapi_conn {
	int fd;
	int state;
	int write_timeout_ms;  /* UAPI_WRITE_TIMEOUT_MS; tests lower it */
	int read_timeout_ms;   /* UAPI_READ_TIMEOUT_MS; tests lower it */
	char *buf;             /* input; consumed bytes are wiped */
	size_t start, len, cap;
	size_t scan;           /* where the search for '\n' resumes */
	size_t line_start;     /* current line of a set transaction */
	struct uapi_buf out;   /* the pending reply (keys in it: wiped) */
	size_t out_sent;       /* bytes of out already written */
	bool building;         /* a get reply is being built in pieces */
	struct uapi_buf built; /* what of it is built (wiped) */
	void *get_pos;         /* uapi_ops.get_piece's position */
	uint64_t get_generation;
	unsigned int get_restarts;
	uint64_t progress_ms;  /* last byte read or written (monotonic) */
	bool eof;              /* the reader shut down its side */
	bool closing;          /* close once the pending reply is sent */
	bool expired;          /* shut down by uapi_server_expire */
	struct uapi_server *server;
	struct uapi_conn *prev, *next;  /* the server's list */
};

/* What the caller waits for on a connection's fd next. */
enum uapi_conn_wait {
	UAPI_CONN_CLOSE = 0,    /* close it (uapi_conn_close) */
	UAPI_CONN_WAIT_READ,    /* readable */
	UAPI_CONN_WAIT_WRITE,   /* writable: a reply is pending */
};

/* fd: a connected, non-blocking stream socket (see uapi_accept). */
void uapi_conn_init(struct uapi_conn *c, int fd);
/*
 * Call when fd is ready for what the previous call asked for (or at first,
 * when it is readable; also on EPOLLHUP/EPOLLERR). Sends what it can of
 * the pending reply; once none is pending, handles the complete operations
 * buffered and reads more, until a reply cannot be sent whole, or input
 * runs dry (EAGAIN), or UAPI_BURST_BYTES were read or written, or it built
 * one piece of a get reply (uapi_ops.get_piece: then it asks to wait for
 * writability, to be called again after the event loop's other work).
 * Never waits.
 * Returns what to wait for next, or UAPI_CONN_CLOSE: EOF, a read or write
 * error, an invalid operation, a failed set (each once its reply, if any,
 * is sent), uapi_server_expire. For level-triggered epoll (a burst may end
 * before EAGAIN). At EOF inside a set transaction the lines received so
 * far form the transaction (wireguard-go applies them too) and are
 * answered, then it closes.
 */
enum uapi_conn_wait uapi_conn_on_event(struct uapi_conn *c,
				       const struct uapi_ops *ops);
/* The same (its older name): non-zero to keep the connection. */
int uapi_conn_on_readable(struct uapi_conn *c, const struct uapi_ops *ops);
/* Bytes of reply still to be sent. */
size_t uapi_conn_pending(const struct uapi_conn *c);
/* Leaves its server, wipes and frees the buffers and closes fd. */
void uapi_conn_close(struct uapi_conn *c);

/*
 * The connections of one listening socket: how many, the replies pending
 * over all of them (bounded, see UAPI_PENDING_MAX), the input buffered
 * over all of them (bounded, see UAPI_INPUT_MAX), and their deadlines.
 * Limits may be lowered after uapi_server_init (tests do).
 */
struct uapi_server {
	size_t conns_max;      /* UAPI_CONNS_MAX */
	size_t pending_max;    /* UAPI_PENDING_MAX */
	size_t n_conns;
	size_t pending;        /* sum of the connections' reply buffers */
	uint64_t refused_gets; /* answered -ENOMEM for pending_max */
	size_t input_max;      /* UAPI_INPUT_MAX */
	size_t input;          /* sum of the connections' input buffers */
	uint64_t refused_inputs; /* answered -ENOMEM for input_max */
	struct uapi_conn *conns;
};

void uapi_server_init(struct uapi_server *srv);
/* Adds an initialised connection; uapi_conn_close takes it out. */
void uapi_server_add(struct uapi_server *srv, struct uapi_conn *c);
/* Whether it serves conns_max connections: accept no more for now. */
bool uapi_server_is_full(const struct uapi_server *srv);
/* The earliest deadline of its connections, in uapi_clock_ms() time;
 * 0 when none has one. */
uint64_t uapi_server_next_deadline(const struct uapi_server *srv);
/* Finds one connection whose deadline has passed at now_ms, shuts its
 * socket down (so that its fd reports EPOLLHUP) and marks it: its next
 * uapi_conn_on_event returns UAPI_CONN_CLOSE. Returns it (for the log:
 * uapi_conn_pending tells which deadline it missed), or NULL when there
 * is none left. Closing nothing itself keeps the caller's per-connection
 * state freed only from that connection's own event. */
struct uapi_conn *uapi_server_expire(struct uapi_server *srv, uint64_t now_ms);
/* CLOCK_MONOTONIC in milliseconds, the time of the deadlines. */
uint64_t uapi_clock_ms(void);

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
/* The same for DIR/IFNAME+SUFFIX (the event stream's IFNAME.events). */
int uapi_listen_named(const char *dir, const char *ifname, const char *suffix,
		      char *path_out, size_t path_len);
/* Accepts one connection: non-blocking, close-on-exec fd, or -errno
 * (-EAGAIN when none is pending). */
int uapi_accept(int listen_fd);
/* Closes fd and unlinks path (either may be -1 / NULL). */
void uapi_unlisten(int fd, const char *path);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-peer protocol timers (whitepaper sections 6.2 - 6.5, with the
 * behaviour of the Linux kernel's drivers/net/wireguard/timers.c).
 *
 * Each peer has five timers. Their deadlines live in the peer's embedded
 * struct timers_peer and in one indexed binary min-heap per device, so the
 * daemon arms a single timerfd to timers_next_deadline() and calls
 * timers_run_expired() when it fires. Only timers.c arms and clears timers:
 * the rest of the daemon reports what happened through the event hooks below
 * and receives the resulting work through struct timers_actions.
 *
 * The daemon re-arms its timerfd after every batch of events, since any hook
 * may move the earliest deadline. Everything here runs on the daemon's
 * control thread; nothing is locked.
 */
#ifndef XWG_TIMERS_H
#define XWG_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/platform.h"

enum timer_kind {
	TIMER_RETRANSMIT_HANDSHAKE,  /* no response to our initiation */
	TIMER_SEND_KEEPALIVE,        /* passive keepalive after received data */
	TIMER_NEW_HANDSHAKE,         /* sent data, heard nothing back */
	TIMER_ZERO_KEY_MATERIAL,     /* no new session for 3 * REJECT_AFTER_TIME */
	TIMER_PERSISTENT_KEEPALIVE,  /* the configured keepalive interval */
	TIMER_COUNT
};

/* heap_pos[] of a timer that is not pending. */
#define TIMERS_NOT_PENDING (~0U)

struct timers;

/* Embedded in the daemon's peer. Fields below the line are the daemon's to
 * read; only persistent_keepalive_interval is the daemon's to write (then it
 * calls timers_persistent_keepalive_changed()). */
struct timers_peer {
	struct timers *timers;
	void *owner;                          /* the daemon's peer, passed to actions */
	xwg_time_t deadline[TIMER_COUNT];     /* absolute, ns; 0 = not pending */
	unsigned int heap_pos[TIMER_COUNT];
	/* --- */
	unsigned int handshake_attempts;      /* retries since the last non-retry */
	bool need_another_keepalive;
	bool sent_lastminute_handshake;       /* timers_may_send_lastminute_initiation() */
	bool persistent_keepalive_was_on;     /* as the hook last saw the interval */
	uint16_t persistent_keepalive_interval; /* seconds, 0 = off */
	xwg_time_t last_sent_handshake;       /* one initiation per REKEY_TIMEOUT */
	bool is_dead;                         /* stopped: no hook arms anything */
};

/*
 * What expired timers ask the daemon to do, each given the peer's owner.
 * An action may call any hook, start or stop timers of any peer, add peers
 * with timers_peer_init(), and stop (then free) any peer, including its own.
 */
struct timers_actions {
	/* Send an initiation with a fresh ephemeral key. The timers already
	 * applied the one-per-REKEY_TIMEOUT rule (asking
	 * timers_may_send_initiation() again is harmless for !is_retry, but
	 * would restart the attempts for a retry: don't). The daemon calls
	 * timers_handshake_initiated() when one really went out; after a
	 * failed send (no endpoint, ...) the timers stay quiet. Every call
	 * means the peer went quiet: the daemon asks
	 * timers_should_forget_endpoint_src() before sending. */
	void (*send_handshake_initiation)(void *owner, bool is_retry);
	/* Send an empty data packet on the current keypair. */
	void (*send_keepalive)(void *owner);
	/* REKEY_ATTEMPT_TIME of retries went unanswered: drop staged packets. */
	void (*give_up)(void *owner);
	/* Wipe all keypairs and the handshake state of the peer. */
	void (*zero_key_material)(void *owner);
	void *ctx;                            /* for the daemon; unused here */
};

/* One timer in the heap. Private to timers.c. */
struct timers_entry {
	xwg_time_t deadline;
	uint64_t seq;                         /* arming order, which breaks ties */
	struct timers_peer *tp;
	unsigned int kind;
};

/* One per device. Fields are private to timers.c. */
struct timers {
	struct timers_actions actions;
	struct timers_entry *heap;
	unsigned int len;                     /* pending timers */
	unsigned int cap;                     /* allocated entries */
	unsigned int peers;                   /* live peers; cap >= peers * TIMER_COUNT */
	uint64_t seq;
	/* The peer whose action is running, and whether that action stopped
	 * it (then it may already be freed and is not touched again). */
	struct timers_peer *running;
	bool running_stopped;
	/* running's action is an initiation for unanswered traffic. */
	bool running_forgets_src;
};

/* Returns 0, or -EINVAL when an action is missing. The heap starts empty
 * and grows as peers are added. */
int timers_init(struct timers *t, const struct timers_actions *actions);
/* Frees the heap; peers still registered are left stopped. */
void timers_uninit(struct timers *t);

/* tp is new or stopped. Resets every field of tp (so set
 * persistent_keepalive_interval after) and reserves its heap slots, so no
 * hook ever allocates. Returns 0 or -ENOMEM. */
int timers_peer_init(struct timers *t, struct timers_peer *tp, void *owner);
/* Removes all of the peer's timers for good; call before freeing the peer.
 * Idempotent. */
void timers_peer_stop(struct timers_peer *tp);

/* tp was just set up with timers_peer_init(): takes over the state below
 * the line of `from` (a peer handed over by another process, ctl/snapshot.c)
 * and arms each of its pending timers at from->deadline[] (absolute:
 * CLOCK_MONOTONIC is the same in every process of the host). */
void timers_peer_restore(struct timers_peer *tp, const struct timers_peer *from);

/* The earliest pending deadline, or 0 when nothing is pending. May be in the
 * past (then the timerfd should fire at once). */
xwg_time_t timers_next_deadline(const struct timers *t);
/* Runs every timer whose deadline is at or before platform_now(), earliest
 * first (equal deadlines in arming order). Timers armed by the actions it
 * runs (always in the future) wait for the next call; so does a call made
 * from inside an action, which does nothing. */
void timers_run_expired(struct timers *t);

/* Event hooks, named after the kernel's. */
/* After an authenticated data packet (not a keepalive) was sent. */
void timers_data_sent(struct timers_peer *tp);
/* After an authenticated data packet (not a keepalive) was received. */
void timers_data_received(struct timers_peer *tp);
/* After any authenticated packet (data, keepalive, handshake) was sent. */
void timers_any_authenticated_packet_sent(struct timers_peer *tp);
/* After any authenticated packet was received. */
void timers_any_authenticated_packet_received(struct timers_peer *tp);
/* Before any authenticated packet is sent, or after one is received. */
void timers_any_authenticated_packet_traversal(struct timers_peer *tp);
/* After a handshake initiation was sent. */
void timers_handshake_initiated(struct timers_peer *tp);
/* After a handshake response was consumed, or the responder got key
 * confirmation with the first data packet. */
void timers_handshake_complete(struct timers_peer *tp);
/* After keys were derived: before sending a response, after consuming one. */
void timers_session_derived(struct timers_peer *tp);
/* After the daemon changed persistent_keepalive_interval. Turning it on
 * sends a keepalive at the next timers_run_expired(); turning it off stops
 * the timer; a shorter interval takes effect at once. */
void timers_persistent_keepalive_changed(struct timers_peer *tp);

/*
 * At most one initiation per peer per REKEY_TIMEOUT (whitepaper 6.2). The
 * daemon asks before every non-retry initiation it starts itself (data to
 * send without a usable keypair, a stale keypair). True when the last one
 * is at least REKEY_TIMEOUT old; then now counts as the last one. Like any
 * non-retry initiation it restarts the count of attempts.
 */
bool timers_may_send_initiation(struct timers_peer *tp);
/* Receiving on an old keypair we initiated (REKEY_AFTER_TIME_RECV) asks for
 * one "last-minute" initiation per handshake: true once, then false until
 * timers_handshake_complete(). The caller then still asks
 * timers_may_send_initiation(). */
bool timers_may_send_lastminute_initiation(struct timers_peer *tp);

/*
 * True while the timers ask for tp's initiation because the peer went
 * quiet: a retransmission, or the new handshake after sent data went
 * unanswered. The cached source address of the peer's endpoint (the local
 * address replies leave from) may be why: on a multihomed host it can stay
 * assigned and yet no longer work. So the daemon forgets it before sending
 * (udp_endpoint_clear_src(), keeping the peer's address), and this and
 * later packets leave from a source the kernel chooses until an
 * authenticated packet from the peer sets it again; as the kernel's
 * wg_expired_retransmit_handshake() and wg_expired_new_handshake() do with
 * wg_socket_clear_peer_endpoint_src(). False for every other initiation
 * (data to send, rekeying, a keepalive without a session).
 */
bool timers_should_forget_endpoint_src(const struct timers_peer *tp);

#endif

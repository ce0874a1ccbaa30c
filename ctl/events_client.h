/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The reader behind `xwgd --events IFNAME` (ctl/events.h is the stream it
 * reads). It parses nothing: lines go to stdout as they come.
 */
#ifndef XWG_CTL_EVENTS_CLIENT_H
#define XWG_CTL_EVENTS_CLIENT_H

/* `xwgd --events IFNAME`: connects to DIR/IFNAME.events and copies its
 * lines to stdout, flushing each. Returns the exit status: 0 at EOF, 1 on
 * an error (said on stderr, naming the socket). */
int events_client_run(const char *dir, const char *ifname);

#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * The three programs from their bpftool skeletons (see loader_internal.h):
 * opened with pin_root_path, so that the first creates and pins every map
 * and the others reuse the pins; libbpf's messages captured meanwhile, for
 * the one line that says why a load failed.
 *
 * The skeletons come from build/bpf/ (the Makefile builds them before any
 * C file). A build without them (the fuzz targets compile every library
 * source without -Ibuild) gets a fastpath_load that says so.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "base/log.h"
#include "ctl/maps/loader_internal.h"

#define HAVE_SKELETONS 0
#ifdef __has_include
#if __has_include("bpf/xdp_rx.skel.h") && __has_include("bpf/tc_tx.skel.h") && \
	__has_include("bpf/xdp_twin.skel.h")
#undef HAVE_SKELETONS
#define HAVE_SKELETONS 1
#include "bpf/tc_tx.skel.h"
#include "bpf/xdp_rx.skel.h"
#include "bpf/xdp_twin.skel.h"
#endif
#endif

/* libbpf's warnings kept while loading, for the reason of a failure. */
#define LIBBPF_LOG_MAX (64 * 1024)

#if HAVE_SKELETONS

/* --- libbpf's messages --------------------------------------------------- */

static char *libbpf_log;
static size_t libbpf_log_len;

static int libbpf_log_capture(enum libbpf_print_level level, const char *fmt,
			      va_list ap)
{
	int n;

	if (level == LIBBPF_DEBUG || !libbpf_log)
		return 0;
	if (libbpf_log_len >= LIBBPF_LOG_MAX - 256) {
		/* Keep the tail: the verifier's verdict is at the end. */
		memmove(libbpf_log, libbpf_log + LIBBPF_LOG_MAX / 2,
			libbpf_log_len - LIBBPF_LOG_MAX / 2);
		libbpf_log_len -= LIBBPF_LOG_MAX / 2;
		libbpf_log[libbpf_log_len] = '\0';
	}
	n = vsnprintf(libbpf_log + libbpf_log_len, LIBBPF_LOG_MAX - libbpf_log_len,
		      fmt, ap);
	if (n > 0)
		libbpf_log_len += (size_t)n < LIBBPF_LOG_MAX - libbpf_log_len ?
				  (size_t)n : LIBBPF_LOG_MAX - libbpf_log_len - 1;
	return 0;
}

/* The line that says why: the verifier's last words before "-- END PROG
 * LOAD LOG --" (skipping its statistics), else libbpf's last line. */
static void libbpf_log_reason(char *buf, size_t size)
{
	char *end, *line, *p;

	buf[0] = '\0';
	if (!libbpf_log || !libbpf_log_len)
		return;
	end = strstr(libbpf_log, "-- END PROG LOAD LOG --");
	if (!end)
		end = libbpf_log + libbpf_log_len;
	for (p = end; p > libbpf_log;) {
		while (p > libbpf_log && (p[-1] == '\n' || p[-1] == ' '))
			p--;
		line = p;
		while (line > libbpf_log && line[-1] != '\n')
			line--;
		if (p > line && strncmp(line, "processed ", 10) &&
		    strncmp(line, "verification time", 17) &&
		    strncmp(line, "stack depth", 11)) {
			snprintf(buf, size, "%.*s", (int)(p - line), line);
			return;
		}
		p = line;
	}
}

static void libbpf_log_forward(void)
{
	char *line, *save = NULL;

	if (!libbpf_log)
		return;
	for (line = strtok_r(libbpf_log, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		log_debug("%s", line);
}

struct bpf_object *fastpath_skeleton_object(struct fastpath *fp, int which)
{
	switch (which) {
	case 0:
		return fp->rx_skel ? fp->rx_skel->obj : NULL;
	case 1:
		return fp->tx_skel ? fp->tx_skel->obj : NULL;
	default:
		return fp->twin_skel ? fp->twin_skel->obj : NULL;
	}
}

static int load_failed(struct fastpath *fp, int ret, const char *what)
{
	char why[256];

	libbpf_log_reason(why, sizeof(why));
	if (ret == -EPERM)
		return fastpath_fail(fp, ret, "not allowed to load %s (needs CAP_BPF and CAP_NET_ADMIN, "
				     "or root)%s%s", what, why[0] ? ": " : "", why);
	if (strstr(libbpf_log ? libbpf_log : "", "BEGIN PROG LOAD LOG"))
		return fastpath_fail(fp, ret, "the kernel's verifier rejected %s (%s%s): %s", what,
				     strerror(-ret), strstr(libbpf_log, "!root") ? "; needs CAP_PERFMON: "
				     "without it the verifier refuses the programs' pointer arithmetic" : "",
				     why);
	return fastpath_fail(fp, ret, "cannot load %s: %s%s%s", what, strerror(-ret),
			     why[0] ? ": " : "", why);
}

int fastpath_skeletons_load(struct fastpath *fp)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = fp->pin_dir);
	libbpf_print_fn_t old;
	int ret = 0;

	libbpf_log = calloc(1, LIBBPF_LOG_MAX);
	libbpf_log_len = 0;
	old = libbpf_set_print(libbpf_log_capture);

	/* xdp_rx first: it creates and pins every map; the others find the
	 * pins and reuse them. */
	fp->rx_skel = xdp_rx__open_opts(&opts);
	if (!fp->rx_skel) {
		ret = load_failed(fp, -errno, "xdp_rx");
		goto out;
	}
	ret = xdp_rx__load(fp->rx_skel);
	if (ret) {
		ret = load_failed(fp, ret, "xdp_rx (xwg_xdp_rx)");
		goto out;
	}
	fp->tx_skel = tc_tx__open_opts(&opts);
	if (!fp->tx_skel) {
		ret = load_failed(fp, -errno, "tc_tx");
		goto out;
	}
	/* On a TUN the packet starts at its IP header. */
	fp->tx_skel->rodata->l3_device = fp->tun_mode;
	ret = tc_tx__load(fp->tx_skel);
	if (ret) {
		ret = load_failed(fp, ret, "tc_tx (xwg_tc_tx)");
		goto out;
	}
	fp->twin_skel = xdp_twin__open_opts(&opts);
	if (!fp->twin_skel) {
		ret = load_failed(fp, -errno, "xdp_twin");
		goto out;
	}
	ret = xdp_twin__load(fp->twin_skel);
	if (ret)
		ret = load_failed(fp, ret, "xdp_twin (xwg_xdp_twin)");
out:
	libbpf_set_print(old);
	if (ret)
		libbpf_log_forward();
	free(libbpf_log);
	libbpf_log = NULL;
	return ret;
}

void fastpath_skeletons_destroy(struct fastpath *fp)
{
	xdp_twin__destroy(fp->twin_skel);
	tc_tx__destroy(fp->tx_skel);
	xdp_rx__destroy(fp->rx_skel);
	fp->twin_skel = NULL;
	fp->tx_skel = NULL;
	fp->rx_skel = NULL;
}

int fastpath_prog_fd_rx(struct fastpath *fp)
{
	return bpf_program__fd(fp->rx_skel->progs.xwg_xdp_rx);
}

int fastpath_prog_fd_tx(struct fastpath *fp)
{
	return bpf_program__fd(fp->tx_skel->progs.xwg_tc_tx);
}

int fastpath_prog_fd_twin(struct fastpath *fp)
{
	return bpf_program__fd(fp->twin_skel->progs.xwg_xdp_twin);
}

#else /* !HAVE_SKELETONS */

struct bpf_object *fastpath_skeleton_object(struct fastpath *fp, int which)
{
	(void)fp;
	(void)which;
	return NULL;
}

int fastpath_skeletons_load(struct fastpath *fp)
{
	return fastpath_fail(fp, -ENOSYS, "this build has no BPF programs (built without build/bpf/*.skel.h)");
}

void fastpath_skeletons_destroy(struct fastpath *fp)
{
	(void)fp;
}

int fastpath_prog_fd_rx(struct fastpath *fp)
{
	(void)fp;
	return -1;
}

int fastpath_prog_fd_tx(struct fastpath *fp)
{
	(void)fp;
	return -1;
}

int fastpath_prog_fd_twin(struct fastpath *fp)
{
	(void)fp;
	return -1;
}

#endif

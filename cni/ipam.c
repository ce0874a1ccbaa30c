// SPDX-License-Identifier: GPL-2.0
/* xwg-cni: running the IPAM plugin (CNI spec 1.0.0, "Delegated plugin
 * protocol"). */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cni/config.h"
#include "cni/ipam.h"

/* Far more than any IPAM result; a plugin printing more is broken. */
#define IPAM_OUTPUT_MAX (4u << 20)

static int find_plugin(char *path, size_t size, const char *type,
		       const char *cni_path, struct cni_error *err)
{
	const char *dir = cni_path, *end;

	while (*dir) {
		size_t n;

		end = strchr(dir, ':');
		n = end ? (size_t)(end - dir) : strlen(dir);
		if (n && (size_t)snprintf(path, size, "%.*s/%s", (int)n, dir,
					  type) < size &&
		    access(path, X_OK) == 0)
			return 0;
		if (!end)
			break;
		dir = end + 1;
	}
	return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			     "IPAM plugin not found",
			     "no executable '%s' in CNI_PATH (%.512s); install it or fix ipam.type",
			     type, cni_path);
}

/* Feed config to fd_in and collect fd_out until the child closes it. */
static int pump(int fd_in, int fd_out, const char *config, size_t len,
		char **out, size_t *out_len)
{
	size_t written = 0, cap = 4096, used = 0;
	char *buf = malloc(cap);
	struct pollfd p[2];

	if (!buf)
		return -ENOMEM;
	if (!len) {
		close(fd_in);
		fd_in = -1;
	}
	for (;;) {
		int n = 0, rc;

		p[0] = (struct pollfd){ .fd = fd_out, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = fd_in, .events = POLLOUT };
		rc = poll(p, fd_in >= 0 ? 2 : 1, -1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			goto fail;
		if (fd_in >= 0 && p[1].revents) {
			ssize_t w = write(fd_in, config + written, len - written);

			if (w > 0)
				written += (size_t)w;
			if (w < 0 || written == len) {
				/* EPIPE: the plugin did not want it all. */
				close(fd_in);
				fd_in = -1;
			}
		}
		if (!p[0].revents)
			continue;
		if (used + 1 == cap) {
			char *bigger;

			if (cap >= IPAM_OUTPUT_MAX) {
				errno = EFBIG;
				goto fail;
			}
			bigger = realloc(buf, cap * 2);
			if (!bigger)
				goto fail;
			buf = bigger;
			cap *= 2;
		}
		n = (int)read(fd_out, buf + used, cap - used - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		used += (size_t)n;
	}
	if (fd_in >= 0)
		close(fd_in);
	buf[used] = '\0';
	*out = buf;
	*out_len = used;
	return 0;
fail: {
	int e = errno;

	if (fd_in >= 0)
		close(fd_in);
	free(buf);
	return -e;
}
}

/* The plugin's error JSON, when its output is one (has an integer code). */
static bool is_error_object(const char *text, size_t len)
{
	struct cni_error ignored = { 0 };
	struct json_object *obj = cni_json_parse(text, len, "IPAM output",
						 &ignored), *code;
	bool yes;

	yes = obj && json_object_object_get_ex(obj, "code", &code) &&
	      json_object_is_type(code, json_type_int);
	json_object_put(obj);
	return yes;
}

int cni_ipam_exec(const char *type, const char *cni_path, const char *command,
		  const char *config, size_t config_len, char **out,
		  struct cni_error *err)
{
	char path[PATH_MAX], *output = NULL;
	int in[2], outp[2], status, r;
	size_t out_len = 0;
	pid_t pid;

	*out = NULL;
	if (find_plugin(path, sizeof(path), type, cni_path, err))
		return -1;
	if (pipe2(in, O_CLOEXEC))
		return cni_error_set(err, CNI_ERR_IO, "cannot run the IPAM plugin",
				     "pipe: %s", strerror(errno));
	if (pipe2(outp, O_CLOEXEC)) {
		close(in[0]);
		close(in[1]);
		return cni_error_set(err, CNI_ERR_IO, "cannot run the IPAM plugin",
				     "pipe: %s", strerror(errno));
	}
	pid = fork();
	if (pid < 0) {
		r = errno;
		close(in[0]);
		close(in[1]);
		close(outp[0]);
		close(outp[1]);
		return cni_error_set(err, CNI_ERR_IO, "cannot run the IPAM plugin",
				     "fork: %s", strerror(r));
	}
	if (pid == 0) {
		/* Single-threaded: setenv between fork and exec is safe. */
		if (dup2(in[0], STDIN_FILENO) < 0 ||
		    dup2(outp[1], STDOUT_FILENO) < 0 ||
		    (command && setenv("CNI_COMMAND", command, 1)))
			_exit(127);
		execl(path, type, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	/* A plugin that exits without reading stdin must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	r = pump(in[1], outp[0], config, config_len, &output, &out_len);
	close(outp[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			status = -1;
			break;
		}
	if (r < 0) {
		free(output);
		return cni_error_set(err, CNI_ERR_IO, "cannot run the IPAM plugin",
				     "reading the output of %s: %s", path,
				     strerror(-r));
	}
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		*out = output;
		return 0;
	}
	if (out_len && !err->code && is_error_object(output, out_len)) {
		err->code = CNI_ERR_IO;	/* overridden by the passthrough */
		snprintf(err->msg, sizeof(err->msg), "IPAM plugin %s failed", type);
		err->passthrough = output;
		return -1;
	}
	free(output);
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return cni_error_set(err, CNI_ERR_IO, "cannot run the IPAM plugin",
				     "exec %s failed", path);
	return cni_error_set(err, CNI_ERR_IO, "IPAM plugin failed",
			     "%s %s %s without printing an error", path,
			     command ? command : "",
			     status != -1 && WIFSIGNALED(status) ?
				     "was killed by a signal" :
				     "exited with an error");
}

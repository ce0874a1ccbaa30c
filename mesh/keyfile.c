// SPDX-License-Identifier: GPL-2.0
/* xwg-mesh: the private key file. See keyfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mesh/keyfile.h"

#define B64_LEN sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)

int mesh_key_decode(const char *text, size_t len, uint8_t key[32])
{
	size_t got = 0;
	const char *end = NULL;

	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	if (len != B64_LEN - 1)
		return -EINVAL;
	if (sodium_base642bin(key, 32, text, len, NULL, &got, &end,
			      sodium_base64_VARIANT_ORIGINAL) || got != 32 || end != text + len)
		return -EINVAL;
	return 0;
}

/* mkdir -p of path's directory, each new level 0700. */
static int make_parent(const char *path)
{
	char dir[PATH_MAX];
	char *p;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	p = strrchr(dir, '/');
	if (!p || p == dir)
		return 0;
	*p = '\0';
	for (p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_key(const char *path, const uint8_t key[32], char *err, size_t errlen)
{
	char b64[B64_LEN], tmp[PATH_MAX];
	int fd, ret = 0;
	size_t len;

	ret = make_parent(path);
	if (ret) {
		snprintf(err, errlen, "cannot create the directory of %s: %s", path, strerror(-ret));
		return ret;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	sodium_bin2base64(b64, sizeof(b64), key, 32, sodium_base64_VARIANT_ORIGINAL);
	len = strlen(b64);
	b64[len++] = '\n'; /* replaces the NUL: B64_LEN counts it */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(-ret));
		goto out;
	}
	errno = 0;
	if (fchmod(fd, 0600) || write(fd, b64, len) != (ssize_t)len || fsync(fd))
		ret = errno ? -errno : -EIO;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-ret));
		unlink(tmp);
	}
out:
	sodium_memzero(b64, sizeof(b64));
	return ret;
}

static void generate(uint8_t private_key[32])
{
	randombytes_buf(private_key, 32);
	private_key[0] &= 248; /* X25519 clamping, as `wg genkey` stores it */
	private_key[31] = (private_key[31] & 127) | 64;
}

int mesh_key_load_or_create(const char *path, uint8_t private_key[32],
			    uint8_t public_key[32], bool *created, char *err, size_t errlen)
{
	char text[B64_LEN + 8];
	uint8_t key[32];
	struct stat st;
	ssize_t n;
	int fd, ret = 0;

	*created = false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		generate(key);
		ret = write_key(path, key, err, errlen);
		if (ret)
			goto out;
		*created = true;
		goto derive;
	}
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(-ret));
		goto out;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077)) {
		/* Someone loosened it: a key others can read is no key. */
		if (fchmod(fd, 0600)) {
			ret = -errno;
			close(fd);
			snprintf(err, errlen, "%s is readable by others and chmod 0600 failed: %s",
				 path, strerror(-ret));
			goto out;
		}
	}
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n < 0 || mesh_key_decode(text, (size_t)(n < 0 ? 0 : n), key)) {
		ret = -EINVAL;
		snprintf(err, errlen,
			 "%s does not hold one base64 private key (as `wg genkey` prints); remove it to have a new key generated",
			 path);
		goto out;
	}
derive:
	if (crypto_scalarmult_base(public_key, key)) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s holds an unusable (all-zero) key", path);
		goto out;
	}
	memcpy(private_key, key, 32);
out:
	sodium_memzero(text, sizeof(text));
	sodium_memzero(key, sizeof(key));
	return ret;
}

int mesh_key_rotate(const char *path, uint8_t private_key[32], uint8_t public_key[32],
		    char *err, size_t errlen)
{
	uint8_t key[32], pub[32];
	int ret;

	generate(key);
	if (crypto_scalarmult_base(pub, key)) {
		ret = -EINVAL;
		goto out;
	}
	ret = write_key(path, key, err, errlen);
	if (ret)
		goto out;
	memcpy(private_key, key, 32);
	memcpy(public_key, pub, 32);
out:
	sodium_memzero(key, sizeof(key));
	return ret;
}

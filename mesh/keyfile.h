/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-mesh's private key: one base64 line (as `wg genkey` writes, so
 * `wg pubkey < FILE` works) in a root-only file (0600, directory 0700),
 * generated on first start, replaced atomically on rotation.
 */
#ifndef XWG_MESH_KEYFILE_H
#define XWG_MESH_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MESH_DEFAULT_KEY_FILE "/var/lib/xwg-mesh/private.key"

/* Load the key at path, or generate and store one if the file does not
 * exist (*created = true). Derives the public key. 0 or -errno with a
 * message in err (never the key). */
int mesh_key_load_or_create(const char *path, uint8_t private_key[32],
			    uint8_t public_key[32], bool *created, char *err, size_t errlen);

/* Generate a new key and replace the file atomically (temporary file,
 * fsync, rename). The outputs change only on success. */
int mesh_key_rotate(const char *path, uint8_t private_key[32], uint8_t public_key[32],
		    char *err, size_t errlen);

/* Decode one base64 key line (trailing newline allowed): 0 or -EINVAL. */
int mesh_key_decode(const char *text, size_t len, uint8_t key[32]);

#endif

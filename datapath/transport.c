// SPDX-License-Identifier: GPL-2.0
#include "transport.h"

#include <endian.h>
#include <string.h>

#include "ctl/handshake/crypto.h"
#include "messages.h"

size_t transport_padded_len(size_t len, unsigned int mtu)
{
	size_t padded = (len + MESSAGE_PADDING_MULTIPLE - 1) &
			~(size_t)(MESSAGE_PADDING_MULTIPLE - 1);

	if (len > mtu)
		return len;
	return padded > mtu ? mtu : padded;
}

static bool keypair_is_usable(const struct noise_keypair *kp)
{
	return !birthdate_has_expired(kp->birthdate, REJECT_AFTER_TIME);
}

size_t transport_seal(struct noise_keypair *kp, const uint8_t *plain, size_t len,
		      size_t padded_len, uint8_t *out)
{
	struct message_data *hdr = (struct message_data *)out;
	uint8_t *body = out + sizeof(*hdr);
	uint64_t counter;

	if (!keypair_is_usable(kp))
		return 0;
	counter = atomic_fetch_add_explicit(&kp->sending_counter, 1, memory_order_relaxed);
	if (counter >= REJECT_AFTER_MESSAGES) {
		/* Never wrap: keep the counter pinned past the limit. */
		atomic_store_explicit(&kp->sending_counter, REJECT_AFTER_MESSAGES,
				      memory_order_relaxed);
		return 0;
	}
	hdr->header.type = htole32(MESSAGE_DATA);
	hdr->key_idx = htole32(kp->remote_index);
	hdr->counter = htole64(counter);
	if (len && body != plain)
		memmove(body, plain, len);
	memset(body + len, 0, padded_len - len);
	crypto_aead_seal(body, body, padded_len, NULL, 0, counter, kp->sending_key);
	return message_data_len(padded_len);
}

bool transport_open(struct noise_keypair *kp, const uint8_t *msg, size_t len,
		    uint8_t *plain, uint64_t *counter)
{
	const struct message_data *hdr = (const struct message_data *)msg;

	if (len < MESSAGE_MINIMUM_LENGTH || !keypair_is_usable(kp))
		return false;
	*counter = le64toh(hdr->counter);
	if (*counter >= REJECT_AFTER_MESSAGES)
		return false;
	return crypto_aead_open(plain, msg + sizeof(*hdr), len - sizeof(*hdr), NULL, 0,
				*counter, kp->receiving_key);
}

uint32_t transport_receiver_index(const uint8_t *msg)
{
	return le32toh(((const struct message_data *)msg)->key_idx);
}

/* SPDX-License-Identifier: GPL-2.0 */
/* Every unit test suite, in run order. Add one SUITE() line per suite. */
#ifndef XWG_TEST_SUITES_H
#define XWG_TEST_SUITES_H

/* tests/test_crypto.c */
void test_crypto_blake2s(void);
void test_crypto_hmac_kdf(void);
void test_crypto_aead(void);
void test_crypto_xaead(void);
void test_crypto_x25519(void);
void test_crypto_tai64n(void);
/* tests/test_noise.c, tests/test_cookie.c */
void test_noise_vector(void);
void test_noise_handshake(void);
void test_cookie(void);
void test_transport(void);
/* tests/test_ratelimiter.c, tests/test_replay.c */
void test_ratelimiter(void);
void test_replay(void);
/* tests/test_ip.c, tests/test_frame.c */
void test_ip(void);
void test_frame(void);
/* tests/test_icmp.c */
void test_icmp(void);
/* tests/test_device.c */
void test_device(void);
/* tests/test_allowedips.c */
void test_allowedips(void);
/* tests/test_udp.c */
void test_udp(void);
/* tests/test_timers.c */
void test_timers(void);
/* tests/test_uapi.c */
void test_uapi(void);
/* tests/test_mesh.c, tests/test_k8s.c, tests/test_cni.c */
void test_mesh(void);
void test_mesh_events(void);
void test_k8s(void);
void test_cni(void);
/* tests/test_offload.c */
void test_offload(void);
/* tests/test_events.c */
void test_events(void);
/* tests/test_snapshot.c */
void test_snapshot(void);
/* tests/test_worker.c */
void test_worker(void);

#define TEST_SUITES                    \
	SUITE(crypto_blake2s)          \
	SUITE(crypto_hmac_kdf)         \
	SUITE(crypto_aead)             \
	SUITE(crypto_xaead)            \
	SUITE(crypto_x25519)           \
	SUITE(crypto_tai64n)           \
	SUITE(noise_vector)            \
	SUITE(noise_handshake)         \
	SUITE(cookie)                  \
	SUITE(transport)               \
	SUITE(ratelimiter)             \
	SUITE(replay)                  \
	SUITE(ip)                      \
	SUITE(frame)                   \
	SUITE(icmp)                    \
	SUITE(udp)                     \
	SUITE(allowedips)              \
	SUITE(device)                  \
	SUITE(timers)                  \
	SUITE(uapi)                    \
	SUITE(mesh)                    \
	SUITE(mesh_events)             \
	SUITE(k8s)                     \
	SUITE(cni)                     \
	SUITE(offload)                 \
	SUITE(events)                  \
	SUITE(snapshot)                \
	SUITE(worker)

#endif

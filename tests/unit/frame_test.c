/* SPDX-License-Identifier: Apache-2.0 */
/* Framing: round trip, partial delivery, oversize prefix, garbage body. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "esmpi_err.h"
#include "esmpi_frame.h"

static void
test_round_trip(void)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__Hello h = ESMPI__HELLO__INIT;
	Esmpi__Request *got = NULL;
	struct esmpi_frame_rx rx;
	const uint8_t *body;
	uint8_t *buf = NULL;
	size_t len = 0, blen, i;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	h.version = ESMPI_PROTO_VERSION;
	h.rank = 3;
	h.size = 4;
	h.project = "climate";
	req.version = ESMPI_PROTO_VERSION;
	req.body_case = ESMPI__REQUEST__BODY_HELLO;
	req.hello = &h;
	CHECK_INT_EQ(esmpi_frame_pack(&req.base, &buf, &len), 0);
	CHECK(len > ESMPI_FRAME_HDR_LEN);

	/* Deliver one byte at a time: no frame until the last byte. */
	esmpi_frame_rx_init(&rx);
	for (i = 0; i < len; i++) {
		CHECK(write(sv[0], buf + i, 1) == 1);
		CHECK_INT_EQ(esmpi_frame_rx_read(&rx, sv[1]), 0);
		CHECK_INT_EQ(esmpi_frame_rx_next(&rx, &body, &blen),
		    i + 1 == len ? 1 : 0);
	}
	CHECK_INT_EQ(blen, len - ESMPI_FRAME_HDR_LEN);
	CHECK_INT_EQ(esmpi_frame_decode_request(body, blen, &got), 0);
	if (got != NULL) {
		CHECK_INT_EQ(got->body_case, ESMPI__REQUEST__BODY_HELLO);
		CHECK_INT_EQ(got->hello->rank, 3);
		CHECK_STR_CONTAINS(got->hello->project, "climate");
		esmpi__request__free_unpacked(got, NULL);
	}
	esmpi_frame_rx_consume(&rx);
	CHECK_INT_EQ(rx.len, 0);

	/* EOF is reported as such. */
	close(sv[0]);
	CHECK_INT_EQ(esmpi_frame_rx_read(&rx, sv[1]), ESMPI_ERR_EOF);
	esmpi_frame_rx_free(&rx);
	close(sv[1]);
	free(buf);
}

static void
test_oversize_and_garbage(void)
{
	struct esmpi_frame_rx rx;
	uint8_t big[4] = { 0xff, 0xff, 0xff, 0xff };
	uint8_t garbage[] = { 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff };
	Esmpi__Request *got = NULL;
	const uint8_t *body;
	size_t blen;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	esmpi_frame_rx_init(&rx);
	CHECK(write(sv[0], big, sizeof(big)) == 4);
	CHECK_INT_EQ(esmpi_frame_rx_read(&rx, sv[1]), ESMPI_ERR_TOO_LARGE);
	CHECK(rx.cap <= 4096);	/* nothing was allocated for the claim */
	esmpi_frame_rx_free(&rx);

	esmpi_frame_rx_init(&rx);
	CHECK(write(sv[0], garbage, sizeof(garbage)) == sizeof(garbage));
	CHECK_INT_EQ(esmpi_frame_rx_read(&rx, sv[1]), 0);
	CHECK_INT_EQ(esmpi_frame_rx_next(&rx, &body, &blen), 1);
	CHECK_INT_EQ(esmpi_frame_decode_request(body, blen, &got),
	    ESMPI_ERR_PROTOCOL);
	CHECK(got == NULL);
	esmpi_frame_rx_free(&rx);
	close(sv[0]);
	close(sv[1]);
}

static void
test_version_refused(void)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__Request *got = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;

	req.version = ESMPI_PROTO_VERSION + 1;
	CHECK_INT_EQ(esmpi_frame_pack(&req.base, &buf, &len), 0);
	CHECK_INT_EQ(esmpi_frame_decode_request(buf + ESMPI_FRAME_HDR_LEN,
	    len - ESMPI_FRAME_HDR_LEN, &got), ESMPI_ERR_VERSION);
	free(buf);
}

int
main(void)
{
	test_round_trip();
	test_oversize_and_garbage();
	test_version_refused();
	return check_report("frame_test");
}

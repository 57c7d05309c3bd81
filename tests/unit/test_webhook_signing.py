"""Webhook signatures follow the Standard Webhooks specification: its published test vector,
and the reference package's verification of what we sign."""

from __future__ import annotations

import base64
import time

from standardwebhooks import Webhook

from app.modules.webhooks import signing

# The published test vector that Standard Webhooks libraries check themselves against
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TIMESTAMP = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_published_test_vector_signs_the_same() -> None:
    assert signing.signature(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_the_reference_package_verifies_what_we_sign() -> None:
    secret, body = signing.new_secret(), '{"status":"paid","name":"Zoë"}'.encode()
    headers = signing.headers(secret, "0f3c9a", int(time.time()), body)

    assert Webhook(secret).verify(body, headers) == {"status": "paid", "name": "Zoë"}
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}


def test_a_new_secret_is_whsec_and_32_random_bytes_in_base64() -> None:
    first, second = signing.new_secret(), signing.new_secret()

    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32

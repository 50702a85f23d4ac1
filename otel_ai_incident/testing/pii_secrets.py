"""SECRET values for the PII evaluation: provider keys and tokens of the documented shapes, JWTs with a real
header, and PEM private keys, each with the context (`key=`, `Bearer `) it is usually written in.
"""

from __future__ import annotations

import base64
import json
import random
import string

from otel_ai_incident.testing.pii_values import alnum, digits


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _jwt(rng: random.Random) -> str:
    header = {"alg": rng.choice(("HS256", "RS256", "ES256")), "typ": "JWT"}
    payload = {"sub": digits(rng, 8), "name": "Jane Doe", "iat": rng.randint(1_600_000_000, 1_800_000_000)}
    signature = bytes(rng.getrandbits(8) for _ in range(32))
    return ".".join((_b64url(json.dumps(header).encode()), _b64url(json.dumps(payload).encode()), _b64url(signature)))


def _pem(rng: random.Random) -> str:
    kind = rng.choice(("RSA ", "EC ", "", "OPENSSH ", "ENCRYPTED "))
    body = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(rng.randint(120, 400)))).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{lines}\n-----END {kind}PRIVATE KEY-----"


_B64_CHARS = string.ascii_letters + string.digits + "+/"


def secret_with_context(rng: random.Random) -> tuple[str, str, str]:
    """(text before, the secret, text after): context such as `key=` stays outside the labelled span."""
    kind = rng.randrange(11)
    upper_digits = string.ascii_uppercase + "234567"
    if kind == 0:
        return "", rng.choice(("AKIA", "ASIA")) + alnum(rng, 16, upper_digits), ""
    if kind == 1:
        key = rng.choice(("aws_secret_access_key = ", "AWS_SECRET_ACCESS_KEY=", '"SecretAccessKey": "'))
        return key, alnum(rng, 40, _B64_CHARS), '"' if key.endswith('"') else ""
    if kind == 2:
        return "", _pem(rng), ""
    if kind == 3:
        token = _jwt(rng) if rng.random() < 0.3 else alnum(rng, rng.randint(24, 48), _B64_CHARS[:-2] + "-._")
        return rng.choice(("Authorization: Bearer ", "bearer ", "-H 'Authorization: Bearer ")), token, ""
    if kind == 4:
        return "", _jwt(rng), ""
    if kind == 5:
        return "", rng.choice(("ghp_", "gho_", "ghs_")) + alnum(rng, 36), ""
    if kind == 6:
        return "", f"xoxb-{digits(rng, 12)}-{digits(rng, 13)}-{alnum(rng, 24)}", ""
    if kind == 7:
        return "", rng.choice(("sk_live_", "rk_live_", "sk_test_")) + alnum(rng, 24), ""
    if kind == 8:
        return "", "AIza" + alnum(rng, 35, string.ascii_letters + string.digits + "-_"), ""
    if kind == 9:
        return rng.choice(("api_key=", "client_secret: ", 'apiKey = "')), alnum(rng, 32), ""
    return "", "github_pat_" + alnum(rng, 22) + "_" + alnum(rng, 59), ""

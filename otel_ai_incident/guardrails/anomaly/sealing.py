"""Keyed sealing of the fingerprints a saved tool-argument baseline holds.

In memory the scorer works with CRC-32 fingerprints of argument values (cheap, and the same in every
process). Saved as they are, they could be reversed by anyone holding the file: the CRC of "USD", of a
known table name or of a guessed e-mail address is one line away. So every fingerprint is sealed on its
way to disk with a keyed 32-bit permutation (a four-round Feistel network whose round function is keyed
BLAKE2b) and opened again on load: without the key the file holds numbers that say nothing about the
values, and with it a state restores exactly. The work is done at save and load only, never per call.
"""

from __future__ import annotations

import hashlib
import secrets

_ROUNDS = 4
_HALF = 0xFFFF
_PERSONAL = b"aii-anomaly"  # separates these derived keys from any other use of the same key
# The key of this process when the scorer is given none: a baseline saved with it reloads only here.
PROCESS_KEY = secrets.token_bytes(32)


class Seal:
    """A keyed permutation of 32-bit fingerprints (`seal`/`open`), and a check value naming its key."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.blake2b(key, digest_size=32, person=_PERSONAL).digest()
        self.check = hashlib.blake2b(b"check", key=self._key, digest_size=8).hexdigest()
        self._rounds: list[dict[int, int]] = [{} for _ in range(_ROUNDS)]

    def _round(self, index: int, half: int) -> int:
        table = self._rounds[index]
        value = table.get(half)
        if value is None:
            data = bytes((index, half >> 8, half & 0xFF))
            value = table[half] = int.from_bytes(hashlib.blake2b(data, key=self._key, digest_size=2).digest(), "big")
        return value

    def seal(self, token: int) -> int:
        left, right = token >> 16 & _HALF, token & _HALF
        for index in range(_ROUNDS):
            left, right = right, left ^ self._round(index, right)
        return left << 16 | right

    def open(self, token: int) -> int:
        left, right = token >> 16 & _HALF, token & _HALF
        for index in reversed(range(_ROUNDS)):
            left, right = right ^ self._round(index, left), left
        return left << 16 | right

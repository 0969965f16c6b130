"""Participant-ID / confidential-ID derivation, exactly as CASE's `pkg/study/utils/participantID.go` (docs/tasks.md §5).

These IDs address participant documents and confidential-ID map entries; one differing byte means the
pipeline reads and writes someone else's (or no one's) study data. Unknown and empty methods fall back to
AES-CTR, the historical default, as in Go.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_BLOCK = 16
_COUNTER_MASK = (1 << 128) - 1
_ciphers = threading.local()


def _aes_block_encryptor(global_secret: str, study_secret: str) -> Any:
    """This thread's AES-ECB encryptor under the study's key, made once per key and thread.

    Building a CTR cipher per ID costs about ten times the encryption itself, so the CTR keystream is made
    here from the raw block cipher (a context is not shared between threads)."""
    cache: dict[tuple[str, str], Any] | None = getattr(_ciphers, "by_key", None)
    if cache is None:
        cache = _ciphers.by_key = {}
    encryptor = cache.get((global_secret, study_secret))
    if encryptor is None:
        if len(cache) >= 64:
            cache.clear()
        key = hashlib.md5((global_secret + study_secret).encode("utf-8")).digest()
        encryptor = cache[(global_secret, study_secret)] = Cipher(
            algorithms.AES(key), modes.ECB()
        ).encryptor()
    return encryptor


def _aes_ctr(data: str, global_secret: str, study_secret: str) -> str:
    """Go's `cipher.NewCTR(aes, md5(data))` over `data`: the counter block is a 128-bit big-endian integer
    incremented per block, the keystream its AES encryption, XORed with the data."""
    if not data:
        return ""
    raw = data.encode("utf-8")
    counter = int.from_bytes(hashlib.md5(raw).digest(), "big")
    blocks = b"".join(
        ((counter + i) & _COUNTER_MASK).to_bytes(_BLOCK, "big")
        for i in range((len(raw) + _BLOCK - 1) // _BLOCK)
    )
    keystream = _aes_block_encryptor(global_secret, study_secret).update(blocks)[: len(raw)]
    return (int.from_bytes(raw, "big") ^ int.from_bytes(keystream, "big")).to_bytes(len(raw), "big").hex()


def profile_id_to_participant_id(data: str, global_secret: str, study_secret: str, method: str) -> str:
    """CASE's `ProfileIDtoParticipantID`: one application of the study's ID-mapping method to `data`."""
    if method == "same":
        return data
    salted = (data + global_secret + study_secret).encode("utf-8")
    if method == "sha224":
        return hashlib.sha224(salted).hexdigest()
    if method == "sha256":
        return hashlib.sha256(salted).hexdigest()
    if method == "sha224-b64":
        return base64.urlsafe_b64encode(hashlib.sha224(salted).digest()).rstrip(b"=").decode("ascii")
    if method == "sha256-b64":
        return base64.urlsafe_b64encode(hashlib.sha256(salted).digest()).rstrip(b"=").decode("ascii")
    return _aes_ctr(data, global_secret, study_secret)


@dataclass(frozen=True)
class StudyIdentity:
    """What ID derivation needs from a `study-infos` document."""

    key: str
    secret_key: str
    id_mapping_method: str


@dataclass(frozen=True)
class ParticipantIds:
    participant_id: str
    confidential_id: str


def compute_participant_ids(study: StudyIdentity, profile_id: str, global_secret: str) -> ParticipantIds:
    """participantID = F(profile hex id); confidentialID = F(participantID), same secrets and method."""
    participant_id = profile_id_to_participant_id(
        profile_id, global_secret, study.secret_key, study.id_mapping_method
    )
    confidential_id = profile_id_to_participant_id(
        participant_id, global_secret, study.secret_key, study.id_mapping_method
    )
    return ParticipantIds(participant_id, confidential_id)


def main_and_other_profiles(profiles: Sequence[tuple[str, bool]]) -> tuple[str, list[str]]:
    """CASE's `GetMainAndOtherProfiles` over (profile id, mainProfile) pairs, quirks included (docs/tasks.md §5.4).

    A later main-flagged profile replaces an earlier one, and the replaced one is dropped from both results.
    """
    main = ""
    others: list[str] = []
    for profile_id, is_main in profiles:
        if is_main:
            main = profile_id
        else:
            others.append(profile_id)
    if not main and others:
        main = others.pop(0)
    return main, others

"""Participant-ID / confidential-ID derivation, exactly as CASE's `pkg/study/utils/participantID.go` (docs/tasks.md §5).

These IDs address participant documents and confidential-ID map entries; one differing byte means the
pipeline reads and writes someone else's (or no one's) study data. Unknown and empty methods fall back to
AES-CTR, the historical default, as in Go.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def _aes_ctr(data: str, global_secret: str, study_secret: str) -> str:
    if not data:
        return ""
    key = hashlib.md5((global_secret + study_secret).encode("utf-8")).digest()
    counter_block = hashlib.md5(data.encode("utf-8")).digest()
    encryptor = Cipher(algorithms.AES(key), modes.CTR(counter_block)).encryptor()
    return (encryptor.update(data.encode("utf-8")) + encryptor.finalize()).hex()


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

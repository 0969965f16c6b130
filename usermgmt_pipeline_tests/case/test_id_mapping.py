"""Participant-ID / confidential-ID derivation against every DERIVED vector of docs/tasks.md §5.3, and the
main-profile choice of §5.4 (upstream `profiles_test.go` cases)."""

from __future__ import annotations

import pytest
from bson import ObjectId

from usermgmt_pipeline.case.id_mapping import (
    StudyIdentity,
    compute_participant_ids,
    main_and_other_profiles,
    profile_id_to_participant_id,
)

METHODS = ("same", "sha224", "sha224-b64", "sha256", "sha256-b64", "aesctr")
# (input, global secret, study secret) and per method (map(input), map(map(input))); docs/tasks.md §5.3 cases A-E.
CASES: dict[str, tuple[tuple[str, str, str], dict[str, tuple[str, str]]]] = {
    "A": (
        ("5f8d0d55b54764421b7156c3", "globalsecret", "studysecret"),
        {
            "same": ("5f8d0d55b54764421b7156c3", "5f8d0d55b54764421b7156c3"),
            "sha224": (
                "e1e67c49fb7c7130306997484fec4a550e561fa2c28e33144b361c8c",
                "b0a55e9b5a221ea8d8e19a176c0b92fd41840a0bd2e501294c5aa1e2",
            ),
            "sha224-b64": (
                "4eZ8Sft8cTAwaZdIT-xKVQ5WH6LCjjMUSzYcjA",
                "ZWrTB79keMFm1x5LVxTYk9DHBj9UFvJIo_y0Gg",
            ),
            "sha256": (
                "6fe74b4aa658058ebda8a022e1da8f8e939090f66ab4d1400f5e2ef47e1c5ac6",
                "7e616aa912abda3cb626046fe6fde5bcaac023d64207e421d025c3dd50e2d3b7",
            ),
            "sha256-b64": (
                "b-dLSqZYBY69qKAi4dqPjpOQkPZqtNFAD14u9H4cWsY",
                "cs79GPon6WuDpQ3Jvei5QfX2ldJzB-NmkHIEXEPtHL8",
            ),
            "aesctr": (
                "7b45a71965a59632ed3c3179a0b3ed228f457faf90525d14",
                "8f51c17b8bb5d1eda70751ab106c7c0856e0c3daceca9fe58c611af4d6bc95ca6434892da1106219e9f79625af983a9e",
            ),
        },
    ),
    "B": (
        ("65a1b2c3d4e5f60718293a4b", "Zm9vYmFy1234", "this!study.-a.sd"),
        {
            "same": ("65a1b2c3d4e5f60718293a4b", "65a1b2c3d4e5f60718293a4b"),
            "sha224": (
                "7d90d33319cdbf6c221df29929c0c3245f8ea3fd2dabb756e60a2068",
                "f7892e402eca3c4b6624da1a1818232b3b740d46ea172fe2dfcd915f",
            ),
            "sha224-b64": (
                "fZDTMxnNv2wiHfKZKcDDJF-Oo_0tq7dW5gogaA",
                "WiaRo0htnEcNfFcVSBMLcyWwCZzCj1FzOB3thg",
            ),
            "sha256": (
                "e5687b8f91941c62218f7562cf48078bec249530460a47b8f89a52a55dc7397d",
                "827370634d8f469f546d50e54ea070775d5ecb6d3162e66075dc285d1093dc77",
            ),
            "sha256-b64": (
                "5Wh7j5GUHGIhj3Viz0gHi-wklTBGCke4-JpSpV3HOX0",
                "ftuIxlu-Hl70kkEA0CW7Gqi5zqyYhWJEUr3gxHJi19I",
            ),
            "aesctr": (
                "c63d8d4534ca10a8a0ab0d11fda8079367d147571654608e",
                "21fc11d53212d117b1f196e9778d48b0bac7e5d75b2dcf229f9633cfc69967a7019163ea6d27c947e72c88b39ab4c8df",
            ),
        },
    ),
    "C": (
        ("user@example.com", "globalsecret", "studysecret"),
        {
            "same": ("user@example.com", "user@example.com"),
            "sha224": (
                "17997dd36d067b750c18d9c862689b9261c504cc70e28934806d4a40",
                "757aa7346afb1bc00c14867991696ff8ec0fa7392e564e9f6e31a3a6",
            ),
            "sha224-b64": (
                "F5l9020Ge3UMGNnIYmibkmHFBMxw4ok0gG1KQA",
                "fJuoFQqrsdcsiNi7CFYt3DY66Q6UKjbixZjuBA",
            ),
            "sha256": (
                "e3daaf288e18c209377b84167883d7f83a3472114cd081d94fc36483662c9b3f",
                "8b7237a4573bcb0c8f62456ccc60af4fc26509a98ab874acf377dc618f4c9179",
            ),
            "sha256-b64": (
                "49qvKI4Ywgk3e4QWeIPX-Do0chFM0IHZT8Nkg2Ysmz8",
                "Ht3wwBTB9OKalfQfoesOExbquL3wV5snwiFsCyZjshM",
            ),
            "aesctr": (
                "f483ba2b75c86f6505f3b6762bcf46ef",
                "283de48d809f0a589243020579e4bfe17a45de82290bb22debbae8fce82ca5d6",
            ),
        },
    ),
    "D": (
        ("", "globalsecret", "studysecret"),
        {
            "same": ("", ""),
            "sha224": (
                "80d1ae349562525f24fb2eb497127bc1af8de8d43f241af7e50f053e",
                "ecddf38fd93492809e6e1380f0a1bf3f0a75c135ddd09a2686752b2a",
            ),
            "sha224-b64": (
                "gNGuNJViUl8k-y60lxJ7wa-N6NQ_JBr35Q8FPg",
                "ygN4dFqgV8XWF5hlr2Kf_dFRFXAAonqO67QLEQ",
            ),
            "sha256": (
                "490f1bbda0c3ea879cfe332852cda3e8fb18332305b16a349326e64aee64f32f",
                "24858a1044df0fe0023d1a74c27a0aabae9e8e994bd684e28b6037ab4f2e7ca0",
            ),
            "sha256-b64": (
                "SQ8bvaDD6oec_jMoUs2j6PsYMyMFsWo0kybmSu5k8y8",
                "r46Ay7F_b588C4JmsfJ5cN3zWurBKtcdE-yOQNDm0es",
            ),
            "aesctr": ("", ""),
        },
    ),
    "E": (
        ("5f8d0d55b54764421b7156c3", "", ""),
        {
            "same": ("5f8d0d55b54764421b7156c3", "5f8d0d55b54764421b7156c3"),
            "sha224": (
                "94d8fcb097a9d87ffcb65da9e6df4da7b676bd351b5cb693934c225d",
                "0da52f0f82faaadb6c5b635df78ae7a18e1e385dfe59cc6d4ef135ca",
            ),
            "sha224-b64": (
                "lNj8sJep2H_8tl2p5t9Np7Z2vTUbXLaTk0wiXQ",
                "OV9V6nUcYW4YkgQ-9cVPFHZHw2PlJEYC6TnecA",
            ),
            "sha256": (
                "f203cf20913a8c4ce4bb9b8856da449c43ebc05d43119a4cefcfabc73e3fc305",
                "4f774f0bc54166a812d5a6a64119a0b1a20e72e0a57662e4b6585a7949167f66",
            ),
            "sha256-b64": (
                "8gPPIJE6jEzku5uIVtpEnEPrwF1DEZpM78-rxz4_wwU",
                "kKbUGzDnzpfA1JEI5llc9gH_TcrDcIa6BDa8_Swwrxc",
            ),
            "aesctr": (
                "6ce2522bd875b06c16177ed66ce785caba54cff558a4243d",
                "04dc9b73da9f4666554e57ddf3cca05cc8db50297e415326cdefc0489f6a482a279b9716ac90f6e896a1ee2bc55d177d",
            ),
        },
    ),
}
# The reference: "" and "unknown-method" (and e.g. "SHA256": the method is case-sensitive) map like aesctr.
METHOD_ALIASES = {m: m for m in METHODS} | {"": "aesctr", "unknown-method": "aesctr", "SHA256": "aesctr"}

VECTORS = [
    pytest.param(case, method, id=f"{case}-{method or 'empty'}")
    for case in CASES
    for method in METHOD_ALIASES
]


@pytest.mark.parametrize(("case", "method"), VECTORS)
def test_single_application_matches_the_go_vector(case: str, method: str) -> None:
    (data, global_secret, study_secret), rows = CASES[case]
    expected, _ = rows[METHOD_ALIASES[method]]

    assert profile_id_to_participant_id(data, global_secret, study_secret, method) == expected


@pytest.mark.parametrize(("case", "method"), VECTORS)
def test_participant_and_confidential_ids_match_the_go_vector(case: str, method: str) -> None:
    (data, global_secret, study_secret), rows = CASES[case]
    expected_participant, expected_confidential = rows[METHOD_ALIASES[method]]

    ids = compute_participant_ids(StudyIdentity("study", study_secret, method), data, global_secret)

    assert ids.participant_id == expected_participant
    assert ids.confidential_id == expected_confidential


def test_output_lengths_are_those_of_the_reference_for_a_profile_id() -> None:
    profile_id = "5f8d0d55b54764421b7156c3"
    lengths = {
        m: len(compute_participant_ids(StudyIdentity("s", "x", m), profile_id, "g").confidential_id)
        for m in METHODS
    }

    assert lengths == {
        "same": 24,
        "sha224": 56,
        "sha224-b64": 38,
        "sha256": 64,
        "sha256-b64": 43,
        "aesctr": 96,
    }


def _profiles(flags: list[bool]) -> tuple[list[str], list[tuple[str, bool]]]:
    ids = [str(ObjectId()) for _ in flags]
    return ids, list(zip(ids, flags, strict=True))


@pytest.mark.parametrize(
    ("flags", "main_index", "other_indexes"),
    [
        ([True], 0, []),
        ([False], 0, []),
        ([False, False, False, False], 0, [1, 2, 3]),
        ([False, True, False], 1, [0, 2]),
        ([False, True, True], 2, [0]),  # profile #1 is lost, as in Go
    ],
)
def test_main_profile_choice_follows_go_including_the_dropped_earlier_main(
    flags: list[bool], main_index: int, other_indexes: list[int]
) -> None:
    ids, profiles = _profiles(flags)

    main, others = main_and_other_profiles(profiles)

    assert main == ids[main_index]
    assert others == [ids[i] for i in other_indexes]


def test_no_profiles_gives_no_main_profile() -> None:
    assert main_and_other_profiles([]) == ("", [])


def test_aes_ctr_from_the_block_cipher_equals_the_library_ctr_mode_for_any_input() -> None:
    """The AES-CTR method builds its keystream from one reused AES block encryptor (a CTR cipher object per
    ID cost ten times the encryption); it must equal the library's CTR mode byte for byte, for inputs of
    every length (partial last block, several blocks, multi-byte UTF-8)."""
    import hashlib
    import random

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    def library_ctr(data: str, global_secret: str, study_secret: str) -> str:
        key = hashlib.md5((global_secret + study_secret).encode()).digest()
        counter = hashlib.md5(data.encode()).digest()
        encryptor = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
        return (encryptor.update(data.encode()) + encryptor.finalize()).hex()

    rng = random.Random(21)
    for n in range(500):
        data = "".join(rng.choice("0123456789abcdefäöü€ ") for _ in range(rng.randint(1, 80)))
        secrets = (f"global-{n % 3}", f"study-{n % 5}")
        assert profile_id_to_participant_id(data, *secrets, "aesctr") == library_ctr(data, *secrets)

"""A keyed hash of an account id, so `history --email` can answer after the account (and its address) is gone.

The audit log must never hold an address. A plain hash of an address can be reversed by hashing candidate
addresses, so the hash is an HMAC-SHA256 under a secret (`orchestration.account_hash_key`, or the
`USERMGMT_ACCOUNT_HASH_KEY` variable) that lives only in the config or the environment: without the key the
stored value says nothing. CASE account ids are email addresses, and CASE stores them trimmed and
lower-cased, so the id is normalised the same way before hashing: a request written `Alice@Example.org `
finds the account `alice@example.org`.
"""

from __future__ import annotations

import hashlib
import hmac

MIN_KEY_LENGTH = 16
"""Characters a key needs at least: a short key could be guessed, which would make every hash reversible."""


def normalise_account_id(account_id: str) -> str:
    return account_id.strip().lower()


def account_hash(key: str, account_id: str) -> str:
    """Hex HMAC-SHA256 of the normalised account id under `key`; "" without a key or an account id."""
    normalised = normalise_account_id(account_id)
    if not key or not normalised:
        return ""
    return hmac.new(key.encode("utf-8"), normalised.encode("utf-8"), hashlib.sha256).hexdigest()

"""Credentials out of request bodies: what is kept of a refused request must not let anyone run jobs.

A run request carries a bearer token or an HMAC signature. Anything that keeps
the body after the run path is done with it (the dead-letter queue above all) is
readable by more people than the token's owner, so the credential fields are
replaced by a short SHA-256 prefix of their value: enough for an operator to tell
which token a request used (compare it with ``token_fingerprint(key)``), too
little to act with.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

__all__ = ["CREDENTIAL_FIELDS", "FINGERPRINT_LENGTH", "strip_credentials", "token_fingerprint"]

CREDENTIAL_FIELDS = ("token", "signature")
FINGERPRINT_LENGTH = 12  # hex characters of SHA-256: correlates, cannot be turned back into the key
FINGERPRINT_SUFFIX = "_sha256_prefix"

# A credential field as JSON text, for a body that is not a readable JSON object (the
# closing quote is optional: the body may be cut short).
_CREDENTIAL_TEXT = re.compile(rb'"(token|signature)"\s*:\s*("(?:[^"\\]|\\.)*"?|[^,}\s]+)')


def token_fingerprint(value: Any) -> str:
    """The short hash that stands for a credential in a kept body (of its text, or its JSON if not text)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:FINGERPRINT_LENGTH]


def strip_credentials(body: bytes) -> bytes:
    """``body`` with every ``token`` and ``signature`` replaced by ``<field>_sha256_prefix``.

    A JSON object loses its top-level fields and is written back as compact JSON;
    any other body (not JSON, not UTF-8, cut short, too deep) has the fields removed
    from its text, so no body is kept with a credential in it.
    """
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):
        raw = None
    if isinstance(raw, dict):
        if not any(field in raw for field in CREDENTIAL_FIELDS):
            return body
        kept = {key: value for key, value in raw.items() if key not in CREDENTIAL_FIELDS}
        for field in CREDENTIAL_FIELDS:
            if raw.get(field) is not None:
                kept[field + FINGERPRINT_SUFFIX] = token_fingerprint(raw[field])
        return json.dumps(kept, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    return _CREDENTIAL_TEXT.sub(_fingerprint_text, body)


def _fingerprint_text(match: re.Match[bytes]) -> bytes:
    field, value = match.group(1), match.group(2)
    try:
        text = json.loads(value) if value.endswith(b'"') and len(value) > 1 else value.decode("utf-8", "replace")
    except ValueError:
        text = value.decode("utf-8", "replace")
    return b'"' + field + FINGERPRINT_SUFFIX.encode() + b'":"' + token_fingerprint(text).encode() + b'"'

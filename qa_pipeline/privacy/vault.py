"""Encryption at rest for tenants whose policy is ``encrypt_and_redact_on_display``.

Transcripts (the store's conversations, the front-end cache) and scorecard documents
(evidence quotes) are sealed with the tenant's own key (Fernet: AES-128-CBC + HMAC-SHA256);
rules still read the full text in memory, and what people see (the review app, case packs,
output files) is redacted. Keys come only from the environment or from files, never from
configuration that is committed:

- ``$QA_PIPELINE_TENANT_KEY_<TENANT>`` (tenant id upper-cased, ``-`` as ``_``), or
- ``$QA_PIPELINE_KEYS_DIR/<tenant>.key``.

Make a key with ``qa-pipeline new-key`` (or ``Fernet.generate_key()`` of ``cryptography``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from qa_pipeline.errors import ConfigError, StoreError, UnknownTenantError
from qa_pipeline.settings import get_settings, tenant_key_variable

if TYPE_CHECKING:
    from qa_pipeline.privacy.redact import RedactedSpan
    from qa_pipeline.types import Conversation

ENCRYPT_MODE = "encrypt_and_redact_on_display"
_MARK = "__sealed__"
_SCHEME = "fernet-v1"


def is_sealed(doc: Any) -> bool:
    """Whether a stored JSON value is a sealed envelope."""
    return isinstance(doc, dict) and doc.get(_MARK) == _SCHEME


class Vault:
    """Seals and opens JSON values with one tenant's key."""

    def __init__(self, tenant_id: str, key: bytes) -> None:
        from cryptography.fernet import Fernet

        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"the key of tenant {tenant_id!r} is not a Fernet key "
                              "(32 url-safe base64-encoded bytes)") from e
        self.tenant_id = tenant_id

    def seal(self, value: Any) -> dict[str, Any]:
        """``value`` (JSON-serialisable) as an envelope only this key opens."""
        token = self._fernet.encrypt(json.dumps(value, ensure_ascii=False).encode())
        return {_MARK: _SCHEME, "tenant_id": self.tenant_id, "token": token.decode()}

    def open(self, doc: Any) -> Any:
        """The value inside an envelope; a value stored before encryption was switched on
        comes back as it is.

        Raises:
            StoreError: the envelope belongs to another tenant or this key cannot open it.
        """
        if not is_sealed(doc):
            return doc
        from cryptography.fernet import InvalidToken

        if doc.get("tenant_id") != self.tenant_id:
            raise StoreError(f"a sealed value of tenant {doc.get('tenant_id')!r} was read as "
                             f"tenant {self.tenant_id!r}")
        try:
            return json.loads(self._fernet.decrypt(doc["token"].encode()))
        except InvalidToken as e:
            raise StoreError(f"tenant {self.tenant_id!r}: stored data cannot be decrypted "
                             "with the configured key (was the key changed?)") from e


def tenant_key(tenant_id: str) -> bytes:
    """The tenant's key from the environment or the keys folder.

    Raises:
        ConfigError: neither is set (the message says where a key is looked for).
    """
    settings = get_settings()
    var = tenant_key_variable(tenant_id)
    key = settings.tenant_key(tenant_id)
    if key is not None:
        return key.get_secret_value().encode()
    if settings.keys_dir is not None:
        path = settings.keys_dir / f"{tenant_id}.key"
        try:
            return path.read_text(encoding="utf-8").strip().encode()
        except FileNotFoundError:
            pass
        except OSError as e:
            raise ConfigError(f"cannot read the key of tenant {tenant_id!r}: {e}") from e
    raise ConfigError(
        f"tenant {tenant_id!r} stores transcripts encrypted ({ENCRYPT_MODE}) but has no key: "
        f"set ${var} or put {tenant_id}.key in $QA_PIPELINE_KEYS_DIR")


def tenant_policy(tenant_id: str) -> tuple[str, tuple[str, ...]]:
    """``(privacy mode, PII kinds)`` of a tenant with a configuration file; ``("none", ())``
    for tenants that have none (stores used without tenant files, tests).
    """
    from qa_pipeline.tenants import load_tenant, validate_tenant_id

    try:
        validate_tenant_id(tenant_id)
    except ConfigError:
        return "none", ()
    try:  # one look at the tenant's file (this runs per web request and per output file)
        policy = load_tenant(tenant_id).privacy
    except UnknownTenantError:
        return "none", ()
    return policy.mode, tuple(policy.kinds)


def vault_for(tenant_id: str) -> Vault | None:
    """The tenant's vault when its policy encrypts at rest, else None."""
    mode, _ = tenant_policy(tenant_id)
    if mode != ENCRYPT_MODE:
        return None
    return Vault(tenant_id, tenant_key(tenant_id))


def display_kinds(tenant_id: str) -> tuple[str, ...] | None:
    """The PII kinds to redact before showing this tenant's transcripts to people, or None
    when what is stored is already fit to show.
    """
    mode, kinds = tenant_policy(tenant_id)
    return kinds if mode == ENCRYPT_MODE else None


def for_display(tenant_id: str, conversation: Conversation,
                card: dict[str, Any] | None = None
                ) -> tuple[Conversation, dict[str, Any] | None, list[RedactedSpan]]:
    """What people may see of a call: for a tenant that encrypts at rest, the conversation
    and the scorecard's evidence redacted, and the spans to beep in its audio; otherwise
    everything as it is (no spans).
    """
    kinds = display_kinds(tenant_id)
    if kinds is None:
        return conversation, card, []
    from qa_pipeline.privacy.redact import redact_conversation, redact_scorecard

    shown, spans = redact_conversation(conversation, kinds)
    return shown, (redact_scorecard(card, kinds)[0] if card is not None else None), spans

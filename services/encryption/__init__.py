"""Encryption at rest: per-user, per-field AES-GCM tokens, key rotation, migration.

`keys` holds the cipher and its key ring (the public API below); `rotate_keys` and
`migrate_private` are operator commands (`python -m services.encryption.rotate_keys`).
"""

from .keys import (
    ENV_VAR,
    FORMAT_VERSION,
    PHONE,
    EncryptionError,
    Encryptor,
    InvalidKeyConfig,
    LookupHeader,
    MalformedCiphertext,
    TamperedCiphertext,
    TokenHeader,
    UnknownKeyId,
    WrongContext,
    encryptor_from_env,
    generate_key,
    parse_keys,
)

__all__ = [
    "ENV_VAR",
    "FORMAT_VERSION",
    "PHONE",
    "EncryptionError",
    "Encryptor",
    "InvalidKeyConfig",
    "LookupHeader",
    "MalformedCiphertext",
    "TamperedCiphertext",
    "TokenHeader",
    "UnknownKeyId",
    "WrongContext",
    "encryptor_from_env",
    "generate_key",
    "parse_keys",
]

"""Properties of the at-rest encryption adapter: round-trip, freshness, and
that every kind of misuse or corruption raises a clear EncryptionError."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.encryption.keys import (
    EncryptionError,
    Encryptor,
    InvalidKeyConfig,
    MalformedCiphertext,
    TamperedCiphertext,
    UnknownKeyId,
    WrongContext,
    encryptor_from_env,
    generate_key,
    parse_keys,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))
FIELD = "ReflectionSession.transcript"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

enc = Encryptor([("a", KEY_A)])
ids = st.text(min_size=1, max_size=40)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


@settings(max_examples=200)
@given(plaintext=st.text(), user=ids, field=ids)
def test_round_trip_arbitrary_unicode(plaintext: str, user: str, field: str) -> None:
    token = enc.encrypt(plaintext, user=user, field=field)
    assert Encryptor.is_token(token)
    assert token.isascii()
    assert enc.decrypt(token, user=user, field=field) == plaintext


def test_token_layout_is_self_describing() -> None:
    token = enc.encrypt("hello", user="u1", field=FIELD)
    version, kid, field_b64, user_b64, payload = token.split(".")
    assert (version, kid) == ("ck1", "a")
    assert base64.urlsafe_b64decode(field_b64 + "=" * (-len(field_b64) % 4)) == FIELD.encode()
    assert base64.urlsafe_b64decode(user_b64 + "=" * (-len(user_b64) % 4)) == b"u1"
    assert Encryptor.header(token) == ("a", FIELD, "u1")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert len(raw) == 12 + len(b"hello") + 16


def test_same_plaintext_twice_gives_different_tokens() -> None:
    tokens = {enc.encrypt("same", user="u1", field=FIELD) for _ in range(50)}
    assert len(tokens) == 50
    nonces = {t.split(".")[4][:16] for t in tokens}
    assert len(nonces) == 50


# One token for every example: drawing against a fresh nonce each time would make the
# strategy depend on state outside hypothesis (and so not replayable).
TAMPER_TARGET = enc.encrypt("the quiet morning", user="u1", field=FIELD)


@settings(max_examples=300)
@given(data=st.data())
def test_any_single_character_change_is_rejected(data: st.DataObject) -> None:
    token = TAMPER_TARGET
    pos = data.draw(st.integers(0, len(token) - 1), label="pos")
    repl = data.draw(
        st.one_of(st.sampled_from(B64URL + ".="), st.characters()).filter(
            lambda c: c != token[pos]
        ),
        label="repl",
    )
    tampered = token[:pos] + repl + token[pos + 1 :]
    with pytest.raises(EncryptionError):
        enc.decrypt(tampered, user="u1", field=FIELD)


@settings(max_examples=200)
@given(data=st.data())
def test_flipped_payload_byte_is_tampering(data: st.DataObject) -> None:
    token = enc.encrypt("the quiet morning", user="u1", field=FIELD)
    head, payload_b64 = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    pos = data.draw(st.integers(0, len(raw) - 1), label="pos")
    raw[pos] ^= data.draw(st.integers(1, 255), label="mask")
    forged = head + "." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(TamperedCiphertext):
        enc.decrypt(forged, user="u1", field=FIELD)


def test_truncated_or_extended_payload_is_rejected() -> None:
    token = enc.encrypt("x", user="u1", field=FIELD)
    for bad in (token[:-4], token + "AAAA", token[: token.rindex(".") + 10]):
        with pytest.raises(EncryptionError):
            enc.decrypt(bad, user="u1", field=FIELD)


def test_wrong_user_is_refused() -> None:
    token = enc.encrypt("secret", user="alice", field=FIELD)
    with pytest.raises(WrongContext, match="different user"):
        enc.decrypt(token, user="bob", field=FIELD)


def test_wrong_field_is_refused() -> None:
    token = enc.encrypt("secret", user="alice", field=FIELD)
    with pytest.raises(WrongContext, match="field"):
        enc.decrypt(token, user="alice", field="ReflectionSession.recording_url")


def test_relabelled_header_fails_authentication() -> None:
    """Swapping the header to another user/field (an attacker copying a token
    between rows) passes the header check but fails GCM: the header is the AAD."""
    token = enc.encrypt("secret", user="alice", field=FIELD)
    payload = token.rsplit(".", 1)[1]
    victim_header = enc.encrypt("", user="bob", field="Other.f").rsplit(".", 1)[0]
    with pytest.raises(TamperedCiphertext):
        enc.decrypt(f"{victim_header}.{payload}", user="bob", field="Other.f")


def test_other_master_key_fails_authentication() -> None:
    token = Encryptor([("a", KEY_B)]).encrypt("secret", user="u", field=FIELD)
    with pytest.raises(TamperedCiphertext):
        enc.decrypt(token, user="u", field=FIELD)


def test_unknown_kid() -> None:
    token = Encryptor([("zz", KEY_A)]).encrypt("secret", user="u", field=FIELD)
    with pytest.raises(UnknownKeyId, match="zz"):
        enc.decrypt(token, user="u", field=FIELD)
    with pytest.raises(UnknownKeyId):
        enc.reencrypt(token)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "hello world",
        "ck1",
        "ck1.a.b.c",
        "ck1.a.b.c.d.e",
        "ck2.a.Zg.dQ." + "A" * 40,
        "ck1.a.Zg.dQ.AAAA",  # payload too short
        "ck1.a.Zg.dQ." + "A" * 39 + "!",  # bad alphabet
        "ck1.a.Zg.dQ." + "A" * 41,  # impossible base64 length
        "ck1.a.Zg==.dQ." + "A" * 40,  # padding not allowed
        "ck1.a.Zh.dQ." + "A" * 40,  # non-canonical base64
        "ck1.a..dQ." + "A" * 40,  # empty field
        "ck1.a.Zg.." + "A" * 40,  # empty user
        "ck1.a.__8.dQ." + "A" * 40,  # field not UTF-8
        "ck1.a b.Zg.dQ." + "A" * 40,  # bad kid
        "ck1..Zg.dQ." + "A" * 40,
    ],
)
def test_malformed_strings(value: str) -> None:
    assert not Encryptor.is_token(value)
    with pytest.raises(MalformedCiphertext):
        enc.decrypt(value, user="u", field="f")
    with pytest.raises(MalformedCiphertext):
        enc.needs_rotation(value)


@pytest.mark.parametrize("value", [None, 42, b"ck1.a.Zg.dQ.AAAA", ["x"]])
def test_non_strings_are_not_tokens(value: object) -> None:
    assert not Encryptor.is_token(value)


def test_error_messages_never_leak_plaintext() -> None:
    token = enc.encrypt("my private thought", user="alice", field=FIELD)
    # Change one character inside the payload (not the last, whose low bits may be
    # unused), to a different one, so the tag check fails whatever the random nonce.
    i = len(token) - 10
    tampered = token[:i] + ("B" if token[i] == "A" else "A") + token[i + 1 :]
    assert tampered != token
    for call in (
        lambda: enc.decrypt(token, user="bob", field=FIELD),
        lambda: enc.decrypt(tampered, user="alice", field=FIELD),
    ):
        with pytest.raises(EncryptionError) as info:
            call()
        assert "private" not in str(info.value)
        assert info.value.__cause__ is None


def test_optional_passes_none_through() -> None:
    assert enc.encrypt_optional(None, user="u", field="f") is None
    assert enc.decrypt_optional(None, user="u", field="f") is None
    token = enc.encrypt_optional("x", user="u", field="f")
    assert token is not None
    assert enc.decrypt_optional(token, user="u", field="f") == "x"


def test_multiple_keys_first_encrypts_all_decrypt() -> None:
    old = Encryptor([("old", KEY_A)])
    old_token = old.encrypt("kept", user="u", field=FIELD)
    both = Encryptor([("new", KEY_B), ("old", KEY_A)])
    assert both.primary_kid == "new"
    assert both.decrypt(old_token, user="u", field=FIELD) == "kept"
    assert both.needs_rotation(old_token)
    new_token = both.encrypt("fresh", user="u", field=FIELD)
    assert Encryptor.header(new_token).kid == "new"
    assert not both.needs_rotation(new_token)
    with pytest.raises(UnknownKeyId):
        old.decrypt(new_token, user="u", field=FIELD)


def test_reencrypt_moves_to_primary_and_keeps_context() -> None:
    old_token = Encryptor([("old", KEY_A)]).encrypt("kept", user="u9", field=FIELD)
    both = Encryptor([("new", KEY_B), ("old", KEY_A)])
    rotated = both.reencrypt(old_token)
    assert Encryptor.header(rotated) == ("new", FIELD, "u9")
    assert both.decrypt(rotated, user="u9", field=FIELD) == "kept"
    assert Encryptor([("new", KEY_B)]).decrypt(rotated, user="u9", field=FIELD) == "kept"


def test_derived_keys_differ_per_user_and_are_cached() -> None:
    e = Encryptor([("a", KEY_A)])
    assert e._aead("a", "u1") is e._aead("a", "u1")
    token = e.encrypt("x", user="u1", field="f")
    # same payload under u2's header: header check passes, u2's key rejects it
    forged = e.encrypt("x", user="u2", field="f").rsplit(".", 1)[0] + "." + token.rsplit(".", 1)[1]
    with pytest.raises(TamperedCiphertext):
        e.decrypt(forged, user="u2", field="f")


def test_key_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.encryption.keys.KEY_CACHE_SIZE", 3)
    e = Encryptor([("a", KEY_A)])
    tokens = {u: e.encrypt(u, user=u, field="f") for u in "abcdef"}
    assert len(e._cache) == 3
    assert all(e.decrypt(t, user=u, field="f") == u for u, t in tokens.items())


def test_repr_hides_key_material() -> None:
    text = repr(Encryptor([("a", KEY_A)]))
    assert "a" in text and KEY_A.hex() not in text and b64(KEY_A) not in text


@pytest.mark.parametrize(
    "keys, match",
    [
        ([], "at least one"),
        ([("a", b"short")], "32 bytes"),
        ([("a", KEY_A), ("a", KEY_B)], "duplicate"),
        ([("bad.kid", KEY_A)], "key id"),
        ([("", KEY_A)], "key id"),
        ([("a", "x" * 32)], "32 bytes"),
    ],
)
def test_constructor_validates_keys(keys: list, match: str) -> None:
    with pytest.raises(InvalidKeyConfig, match=match):
        Encryptor(keys)


@pytest.mark.parametrize(
    "kwargs", [{"user": "", "field": "f"}, {"user": "u", "field": ""}, {"user": 1, "field": "f"}]
)
def test_empty_context_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        enc.encrypt("x", **kwargs)


def test_parse_keys_named_and_bare() -> None:
    assert parse_keys(f"new:{b64(KEY_B)}, old:{b64(KEY_A)}") == [("new", KEY_B), ("old", KEY_A)]
    assert parse_keys(f"{b64(KEY_A)},{b64(KEY_B)}") == [("k1", KEY_A), ("k2", KEY_B)]
    urlsafe_unpadded = base64.urlsafe_b64encode(KEY_B).decode().rstrip("=")
    assert parse_keys(urlsafe_unpadded) == [("k1", KEY_B)]


@pytest.mark.parametrize(
    "spec, match",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a:not*base64", "not valid base64"),
        ("a:" + base64.b64encode(b"x" * 16).decode(), "32 bytes, got 16"),
        ("a:" + base64.b64encode(b"x" * 33).decode(), "32 bytes, got 33"),
        (f"a:{b64(KEY_A)},,b:{b64(KEY_B)}", "entry 2 is empty"),
        (f"a:{b64(KEY_A)},a:{b64(KEY_B)}", "duplicate"),
        (f"bad.kid:{b64(KEY_A)}", "key id"),
        (f":{b64(KEY_A)}", "key id"),
    ],
)
def test_parse_keys_errors(spec: str, match: str) -> None:
    with pytest.raises(InvalidKeyConfig, match=match):
        parse_keys(spec)


def test_parse_keys_error_does_not_echo_key() -> None:
    secret = base64.b64encode(os.urandom(20)).decode()
    with pytest.raises(InvalidKeyConfig) as info:
        parse_keys(f"a:{secret}")
    assert secret not in str(info.value)


def test_generate_key_round_trips_through_parse_keys() -> None:
    k1, k2 = generate_key(), generate_key()
    assert k1 != k2
    [(kid, key)] = parse_keys(k1)
    assert kid == "k1" and len(key) == 32 and base64.b64decode(k1) == key


def test_encryptor_from_env() -> None:
    e = encryptor_from_env({"ENCRYPTION_KEYS": f"new:{b64(KEY_B)},old:{b64(KEY_A)}"})
    assert e.primary_kid == "new" and e.kids == ("new", "old")
    with pytest.raises(InvalidKeyConfig, match="ENCRYPTION_KEYS is not set"):
        encryptor_from_env({})


# -- lookup keys (keyed hashes for finding a value by equality) --------------------------


@settings(max_examples=100)
@given(a=st.text(max_size=30), b=st.text(max_size=30))
def test_lookup_keys_are_equal_exactly_for_equal_values(a: str, b: str) -> None:
    ka, kb = enc.lookup_key(a, purpose="phone"), enc.lookup_key(b, purpose="phone")
    assert (ka == kb) == (a == b)
    assert Encryptor.is_lookup_key(ka) and not Encryptor.is_token(ka)
    assert Encryptor.lookup_header(ka) == ("a", "phone")
    assert enc.matches_lookup(a, ka) and enc.matches_lookup(b, ka) == (a == b)


def test_lookup_keys_depend_on_the_master_key_and_the_purpose() -> None:
    both = Encryptor([("b", KEY_B), ("a", KEY_A)])
    number = "+14155552671"
    mine = enc.lookup_key(number, purpose="phone")
    assert number[1:] not in mine
    assert both.lookup_key(number, purpose="phone") != mine  # another primary key
    assert both.lookup_keys(number, purpose="phone")[1] == mine  # found under the old one
    assert both.matches_lookup(number, mine) and both.needs_rotation(mine)
    assert not enc.needs_rotation(mine)
    assert enc.lookup_key(number, purpose="email") != mine
    assert not Encryptor([("b", KEY_B)]).matches_lookup(number, mine)  # the key is gone


@pytest.mark.parametrize(
    "value",
    ["", "hk1.a.phone.short", "hk2.a.phone." + "A" * 43, "hk1.a.Phone." + "A" * 43, None, 7],
)
def test_malformed_lookup_keys(value: object) -> None:
    assert not Encryptor.is_lookup_key(value)
    assert not enc.matches_lookup("x", value)  # type: ignore[arg-type]
    with pytest.raises(MalformedCiphertext):
        Encryptor.lookup_header(value)  # type: ignore[arg-type]


def test_lookup_key_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        enc.lookup_key("x", purpose="Not A Label")
    with pytest.raises(TypeError):
        enc.lookup_key(5, purpose="phone")  # type: ignore[arg-type]
    with pytest.raises(UnknownKeyId):
        enc.lookup_key("x", purpose="phone", kid="zz")

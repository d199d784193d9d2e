"""Secrets at rest: access secrets are stored sealed with AES-GCM under a master key.

The master key is 32 random bytes, written as URL-safe base64 (44 characters). It comes from
``NXLINK_MASTER_KEY`` (the key itself), else from the file ``NXLINK_MASTER_KEY_FILE`` (default
``$XDG_CONFIG_HOME/nxlink/master.key``, i.e. ``~/.config/nxlink/master.key``), which is created
with mode 0600 the first time a database without secrets is opened. It never lives in the
database: a copy of the database file, a backup or a dump does not let anyone sign as a tenant.

The database keeps a *check*: a known text sealed under the key, and the key's id (a digest
prefix). Opening a database with another key, or with none when its secrets are sealed, is
one clear :class:`MasterKeyError` line naming what to set.

A sealed value is text: ``v1:`` and the URL-safe base64 of a 12-byte random nonce followed by
the ciphertext and tag. The associated data binds each value to its purpose and row (an access
secret to its ``accessKey``), so a sealed value moved to another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from nxlink.store.base import StoreError

ENV_KEY: Final = "NXLINK_MASTER_KEY"
ENV_KEY_FILE: Final = "NXLINK_MASTER_KEY_FILE"
PREFIX: Final = "v1:"
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
#: What the check seals, and its associated data.
CHECK_TEXT: Final = "nxlink master key check"
CHECK_PURPOSE: Final = b"nxlink:check"


class MasterKeyError(StoreError):
    """The master key is missing, malformed or not the database's."""


def default_key_file() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "nxlink" / "master.key"


def secret_purpose(access_key: str) -> bytes:
    """The associated data of an access key's sealed secret."""
    return b"nxlink:access-secret:" + access_key.encode()


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def decode_key(text: str, *, where: str) -> bytes:
    """A master key from its base64 form; one line naming ``where`` it came from if bad."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        key = b""
    if len(key) != KEY_BYTES:
        raise MasterKeyError(
            f"{where}: not a master key (expected {KEY_BYTES} bytes as URL-safe base64, "
            "44 characters; nxlink makes one on first use)"
        )
    return key


class SecretBox:
    """AES-GCM under one master key: :meth:`seal` and :meth:`open` text values."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"a master key has {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self._key = key
        #: A short, public name of the key (a digest prefix): tells keys apart in messages.
        self.key_id = hashlib.sha256(b"nxlink key id:" + key).hexdigest()[:16]

    @classmethod
    def generate(cls) -> SecretBox:
        return cls(AESGCM.generate_key(bit_length=KEY_BYTES * 8))

    @property
    def encoded(self) -> str:
        """The key as written to a key file (a secret: never print or log it)."""
        return encode_key(self._key)

    def seal(self, purpose: bytes, text: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, text.encode(), purpose)
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, purpose: bytes, value: str) -> str:
        """The text of a sealed value; :class:`MasterKeyError` if this key did not seal it."""
        if not is_sealed(value):
            raise MasterKeyError("not a sealed value")
        raw = base64.urlsafe_b64decode(value[len(PREFIX) :].encode())
        try:
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose).decode()
        except InvalidTag:
            raise MasterKeyError(f"a value does not open under master key {self.key_id}") from None

    def check(self) -> str:
        """The database's proof of which key seals its secrets."""
        return self.seal(CHECK_PURPOSE, CHECK_TEXT)

    def opens_check(self, check: str) -> bool:
        try:
            return self.open(CHECK_PURPOSE, check) == CHECK_TEXT
        except MasterKeyError:
            return False

    def derive(self, purpose: str) -> bytes:
        """A key for another use (e.g. signing links), derived from the master key."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"nxlink:" + purpose.encode())  # fmt: skip
        return hkdf.derive(self._key)


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


@dataclass(frozen=True, slots=True)
class MasterKeySource:
    """Where the master keys come from: the environment's value, or a key file that is created
    (mode 0600) on first use. Either holds a *key ring*: one key per line (commas in the
    environment), newest first. New databases and rotations use the first; a database opens
    with whichever key its check names, so several databases can share one ring while each is
    rotated on its own."""

    value: str | None = None
    path: Path | None = None

    @classmethod
    def from_env(cls) -> MasterKeySource:
        value = os.environ.get(ENV_KEY)
        if value:
            return cls(value=value)
        path = os.environ.get(ENV_KEY_FILE)
        return cls(path=Path(path).expanduser() if path else default_key_file())

    def describe(self) -> str:
        return ENV_KEY if self.value is not None else f"{ENV_KEY_FILE}={self.path}"

    def load(self) -> list[SecretBox]:
        """The ring, newest first; empty when it is a key file that does not exist yet."""
        if self.value is not None:
            return [SecretBox(decode_key(part, where=ENV_KEY))
                    for part in self.value.split(",") if part.strip()]  # fmt: skip
        assert self.path is not None
        try:
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise MasterKeyError(f"master key file {self.path}: {exc}") from None
        where = f"master key file {self.path}"
        return [SecretBox(decode_key(line, where=where)) for line in text.split() if line]

    def create(self) -> SecretBox:
        """A new key written to the key file (0600, its folder 0700), unless another process
        wrote one first: then that one."""
        if self.path is None:
            raise MasterKeyError(f"{ENV_KEY} holds no key")
        box = SecretBox.generate()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            ring = self.load()
            if not ring:
                raise MasterKeyError(f"master key file {self.path} is empty") from None
            return ring[0]
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(box.encoded + "\n")
        return box

    def add_newest(self, box: SecretBox) -> None:
        """Put ``box`` first in the key file's ring, keeping the others (atomic, 0600)."""
        if self.path is None:
            raise MasterKeyError(f"{ENV_KEY} is set: give a file for the new key")
        ring = [box, *(old for old in self.load() if old.key_id != box.key_id)]
        write_key_file(self.path, ring)


def write_key_file(path: Path, ring: list[SecretBox]) -> None:
    """Write a key ring to ``path`` with mode 0600, replacing it atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write("".join(box.encoded + "\n" for box in ring))
        out.flush()
        os.fsync(out.fileno())
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def unlock(source: MasterKeySource, stored: tuple[str, str] | None) -> tuple[SecretBox, bool]:
    """The database's key from ``source`` and its stored ``(key_id, check)`` (None: nothing
    sealed yet).

    Returns ``(box, new)``: ``new`` when the database has no check yet and the caller must
    store ``box.check()``. Raises :class:`MasterKeyError` when the key is missing or wrong.
    """
    ring = source.load()
    if stored is None:
        return (ring[0] if ring else source.create()), True
    key_id, check = stored
    for box in ring:
        if box.key_id == key_id and box.opens_check(check):
            return box, False
    if not ring:
        raise MasterKeyError(
            f"no master key: this database's secrets are sealed under key {key_id}, and "
            f"{source.describe()} does not exist; set {ENV_KEY} or {ENV_KEY_FILE} to the key "
            "it was made with"
        )
    raise MasterKeyError(
        f"wrong master key: this database's secrets are sealed under key {key_id}, which "
        f"{source.describe()} does not hold; set {ENV_KEY} or {ENV_KEY_FILE} to the key it "
        "was made with"
    )

"""Who may change the archive: everyone may ask; editing is for editors.

Three modes, decided once when the server starts:
- local: it listens on the loopback address only, with no editor password: the one local user edits on the
  chat page, as on a laptop.
- read-only: it is reachable by others (another address, `--share`, or `--network`) and no editor password is
  set: nobody can change the archive through it.
- editors: an editor password is set: the chat page is read-only for everyone, and editors sign in at /admin.

Passwords are kept only as scrypt hashes with a random salt and compared in constant time; they are never
printed or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from qa.errors import CredentialsError

DEFAULT_EDITOR = "editor"
MIN_PASSWORD_CHARS = 8
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}  # about 50 ms and 16 MB per check


class Mode(Enum):
    LOCAL = "local"
    READ_ONLY = "read-only"
    EDITORS = "editors"


def is_loopback(host: str) -> bool:
    """Whether a listen address (or a client address) is this computer only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def decide_mode(host: str, share: bool, network: bool, editors: Editors | None) -> Mode:
    if editors is not None:
        return Mode.EDITORS
    if share or network or not is_loopback(host):
        return Mode.READ_ONLY
    return Mode.LOCAL


def editor_of(mode: Mode, username: str | None, client: str) -> str | None:
    """The name an editing request is recorded under, or None when the caller may not edit: a signed-in
    editor (editors mode), or a caller on this computer (local mode)."""
    if mode is Mode.EDITORS:
        return f"{username}@{client}" if username else None
    if mode is Mode.LOCAL:
        return f"local@{client}" if is_loopback(client) else None
    return None


def notice(mode: Mode) -> str:
    """One line, for the first log line and the page: who may do what on this server, and why."""
    if mode is Mode.LOCAL:
        return ("Editing is open: this server listens on this computer only (loopback), so its one user may "
                "add and delete articles on the chat page.")
    if mode is Mode.READ_ONLY:
        return ("Read-only: anyone who can reach this server may ask questions, but nobody can change the "
                "articles, because it is reachable from the network and no editor password is set "
                "(set QA_ADMIN_PASSWORD or --admin-password-file to allow editing at /admin).")
    return ("Anyone who can reach this server may ask questions; only editors, after signing in at /admin, "
            "can add, delete or restore articles.")


@dataclass(frozen=True)
class _Hash:
    salt: bytes
    digest: bytes


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, **_SCRYPT)


class Editors:
    """Editor names and salted password hashes; `verify` takes the same time for unknown names."""

    def __init__(self, passwords: dict[str, str]) -> None:
        self._hashes: dict[str, _Hash] = {}
        for name, password in passwords.items():
            if not name or ":" in name or name != name.strip():
                raise CredentialsError(f"bad editor name {name!r}: no colons or surrounding spaces")
            if len(password) < MIN_PASSWORD_CHARS:
                raise CredentialsError(f"the password of editor {name!r} is too short ({len(password)} "
                                       f"characters; use at least {MIN_PASSWORD_CHARS})")
            salt = secrets.token_bytes(16)
            self._hashes[name] = _Hash(salt, _scrypt(password, salt))
        if not self._hashes:
            raise CredentialsError("no editor password given")
        self._decoy = _Hash(secrets.token_bytes(16), secrets.token_bytes(32))

    @property
    def names(self) -> list[str]:
        return sorted(self._hashes)

    def verify(self, name: str, password: str) -> bool:
        known = self._hashes.get(name)
        stored = known or self._decoy
        return hmac.compare_digest(_scrypt(password, stored.salt), stored.digest) and known is not None

    def __repr__(self) -> str:  # never shows hashes
        return f"Editors({', '.join(self.names)})"


def read_password_file(path: Path) -> dict[str, str]:
    """Lines `name:password`, or one line with the password alone (for the editor named "editor");
    blank lines and lines starting with # are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CredentialsError(f"cannot read the editor password file {path}: {exc.strerror or exc}") from None
    passwords: dict[str, str] = {}
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, password = line.partition(":")
        passwords.update({name.strip(): password} if sep else {DEFAULT_EDITOR: line})
    if not passwords:
        raise CredentialsError(f"the editor password file {path} holds no password")
    return passwords


def load_editors(password: str | None = None, password_file: str | Path | None = None) -> Editors | None:
    """Editors from the first of: `--admin-password`, `--admin-password-file`, $QA_ADMIN_PASSWORD,
    $QA_ADMIN_PASSWORD_FILE; None when none is set. The variables are removed from the environment
    once read, so child processes do not inherit the password."""
    env_password = os.environ.pop("QA_ADMIN_PASSWORD", None)
    env_file = os.environ.pop("QA_ADMIN_PASSWORD_FILE", None)
    if password is not None:
        return Editors({DEFAULT_EDITOR: password})
    if password_file is not None:
        return Editors(read_password_file(Path(password_file)))
    if env_password:
        return Editors({DEFAULT_EDITOR: env_password})
    if env_file:
        return Editors(read_password_file(Path(env_file)))
    return None

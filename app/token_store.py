"""Where server tokens live: the system keyring when the desktop has one (the ``keyring``
package: Secret Service, macOS Keychain, Windows Credential Locker), else nowhere but the
settings file (readable only by its owner), which ``app.settings`` writes then."""

from __future__ import annotations

import contextlib
import logging

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import KeyringError

log = logging.getLogger(__name__)

SERVICE = "streamdesk"


class TokenStore:
    """The system keyring, if there is a usable one; every failure falls back to the file."""

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self._backend = backend if backend is not None else keyring.get_keyring()

    @property
    def available(self) -> bool:
        return not isinstance(self._backend, fail.Keyring | null.Keyring)

    @property
    def backend_name(self) -> str:
        return str(getattr(self._backend, "name", type(self._backend).__name__))

    def get(self, account: str) -> str | None:
        if not self.available:
            return None
        try:
            return self._backend.get_password(SERVICE, account)
        except KeyringError as error:
            log.warning("could not read a token from the system keyring: %s", error)
            return None

    def put(self, account: str, token: str) -> bool:
        """Keep the token in the keyring; False when it could not (the caller keeps it)."""
        if not self.available:
            return False
        try:
            self._backend.set_password(SERVICE, account, token)
        except KeyringError as error:
            log.warning("could not save a token in the system keyring: %s", error)
            return False
        return True

    def delete(self, account: str) -> None:
        if not self.available:
            return
        # Nothing stored under that name is fine: there is nothing to delete.
        with contextlib.suppress(KeyringError):
            self._backend.delete_password(SERVICE, account)

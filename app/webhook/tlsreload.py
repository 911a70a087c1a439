"""The serving certificate, re-read when the files' content changes.

Mounted Secrets are updated by swapping a symlink, with no inotify event on the file we opened,
so the files are polled and compared by content. A new pair is first loaded into a scratch
context: a half-written file or a mismatched cert and key (one updated before the other) is
rejected and the old certificate keeps serving. Only then is the live SSLContext updated, on
the event loop thread, so no handshake sees it half-loaded; connections already open keep
their session and new handshakes get the new certificate.

One caveat: OpenSSL keeps one certificate per key type, so rotating from an EC key to an RSA
key (or back) leaves the old one selectable; restart the server for such a change.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from cryptography import x509


class CertError(Exception):
    """The certificate or key cannot be used; the message names the files."""


def new_server_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    return context


class CertReloader:
    def __init__(self, cert_file: str | Path, key_file: str | Path, interval: float = 1.0) -> None:
        self.cert_file = Path(cert_file)
        self.key_file = Path(key_file)
        self.interval = interval
        self.context = new_server_context()
        self.loaded_at = 0.0
        self.not_after = 0.0
        self.failures = 0
        self.last_error: str | None = None
        # Called after each attempt with (reloader, succeeded); the app wires metrics and logs.
        self.listeners: list[Callable[[CertReloader, bool], None]] = []
        self._fingerprint = b""
        self._failed_fingerprint = b""
        cert, key = self._read()
        self._install(cert, key)

    @property
    def loaded(self) -> bool:
        return self.loaded_at > 0 and self.not_after > time.time()

    def _read(self) -> tuple[bytes, bytes]:
        try:
            return self.cert_file.read_bytes(), self.key_file.read_bytes()
        except OSError as exc:
            raise CertError(f"cannot read {exc.filename}: {exc.strerror}") from None

    def _install(self, cert: bytes, key: bytes) -> None:
        try:
            parsed = x509.load_pem_x509_certificate(cert)
        except ValueError as exc:
            raise CertError(f"{self.cert_file}: not a PEM certificate ({exc})") from None
        with _pem_paths(cert, key) as (cert_path, key_path):
            try:
                new_server_context().load_cert_chain(cert_path, key_path)
                self.context.load_cert_chain(cert_path, key_path)
            except ssl.SSLError as exc:
                raise CertError(
                    f"{self.cert_file} and {self.key_file} are not a usable pair: {exc.reason or exc}"
                ) from None
        self._fingerprint = _fingerprint(cert, key)
        self.loaded_at = time.time()
        self.not_after = parsed.not_valid_after_utc.timestamp()

    def check(self) -> bool:
        """Reload if the content changed; True when a new certificate was installed."""
        try:
            cert, key = self._read()
        except CertError as exc:
            return self._failed(b"unreadable", str(exc))
        return self.offer(cert, key)

    def offer(self, cert: bytes, key: bytes) -> bool:
        fingerprint = _fingerprint(cert, key)
        if fingerprint == self._fingerprint or fingerprint == self._failed_fingerprint:
            return False
        try:
            self._install(cert, key)
        except CertError as exc:
            return self._failed(fingerprint, str(exc))
        self.last_error = None
        self._failed_fingerprint = b""
        for listener in self.listeners:
            listener(self, True)
        return True

    def _failed(self, fingerprint: bytes, message: str) -> bool:
        # Remember the bad content so it is reported once, not every poll; a later write of
        # the files changes the fingerprint and is tried again.
        if fingerprint != self._failed_fingerprint:
            self._failed_fingerprint = fingerprint
            self.failures += 1
            self.last_error = message
            for listener in self.listeners:
                listener(self, False)
        return False

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                cert, key = await asyncio.to_thread(self._read)
                # Back on the loop thread: the live context changes between two handshakes.
                self.offer(cert, key)
            except CertError as exc:
                self._failed(b"unreadable", str(exc))
            except Exception as exc:  # a dead watcher would never reload again: keep going
                self._failed(b"error", f"{type(exc).__name__}: {exc}")


def _fingerprint(cert: bytes, key: bytes) -> bytes:
    return hashlib.sha256(len(cert).to_bytes(8, "big") + cert + key).digest()


@contextlib.contextmanager
def _pem_paths(cert: bytes, key: bytes) -> Iterator[tuple[str, str]]:
    """The exact bytes we fingerprinted, as paths for load_cert_chain (which only takes paths):
    re-opening the real files could read a newer, different pair."""
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fds = [os.memfd_create("winpod-cert"), os.memfd_create("winpod-key")]
        try:
            for fd, data in zip(fds, (cert, key), strict=True):
                os.write(fd, data)
            yield f"/proc/self/fd/{fds[0]}", f"/proc/self/fd/{fds[1]}"
        finally:
            for fd in fds:
                os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="winpod-tls-") as tmp:
        cert_path, key_path = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
        cert_path.write_bytes(cert)
        key_path.touch(mode=0o600)
        key_path.write_bytes(key)
        yield str(cert_path), str(key_path)

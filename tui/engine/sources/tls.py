"""TLS for the health checks: client contexts, the presented certificate chain, and what a
failed handshake means in words.

Python 3.11's ``ssl`` only exposes the leaf publicly; the whole presented chain comes from
``get_unverified_chain()`` (public from 3.13, on the private ``_sslobj`` from 3.10). DER is
parsed with ``cryptography``, imported on first use so configs without TLS never pay for it.
"""

from __future__ import annotations

import _ssl
import asyncio
import datetime as dt
import re
import ssl
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import httpx

from tui.engine.printable import printable
from tui.engine.samples import CertInfo
from tui.engine.sources.asyncio_transport import HAPPY_EYEBALLS_DELAY

_HOSTNAME_MISMATCH = 62
_IP_ADDRESS_MISMATCH = 64
_CERT_HAS_EXPIRED = 10
_CERT_NOT_YET_VALID = 9
_SELF_SIGNED = 18
_SELF_SIGNED_IN_CHAIN = 19
_UNKNOWN_ISSUER = (20, 21)
_NAMES_SHOWN = 3
_COMMON_NAME = re.compile(r"(?:^|,)CN=((?:[^,\\]|\\.)*)")


def client_context(verify: bool, ca_file: Path | None = None) -> ssl.SSLContext:
    """A client context: httpx's defaults (certifi, or ``SSL_CERT_FILE``), a CA file, or none.

    A CA file that cannot be loaded is a ValueError saying so, for the check to report.
    """
    if not verify:
        return httpx.create_ssl_context(verify=False)
    if ca_file is None:
        return httpx.create_ssl_context(verify=True)
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except ssl.SSLError:
        reason = "no CA certificate in it (PEM expected)"
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
    raise ValueError(f"cannot load ca_file {ca_file}: {reason}")


def presented_chain(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> tuple[bytes, ...]:
    """DER of every certificate the peer sent, leaf first (just the leaf if that is all)."""
    getter = getattr(ssl_object, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        ders = tuple(_der(cert) for cert in getter() or ())
        if ders:
            return ders
    leaf = ssl_object.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()


def _der(cert: object) -> bytes:
    """3.13's public getter gives DER bytes; the private one gives ``_ssl.Certificate``."""
    return cert if isinstance(cert, bytes) else cert.public_bytes(_ssl.ENCODING_DER)


@lru_cache(maxsize=256)
def cert_info(der: bytes) -> CertInfo | None:
    """One certificate as the samples carry it, or ``None`` when it does not parse."""
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
        try:
            extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            sans: tuple[str, ...] = ()
        else:
            sans = tuple(
                printable(str(name.value))
                for name in extension.value
                if isinstance(name, x509.DNSName | x509.IPAddress)
            )
        return CertInfo(
            subject=printable(cert.subject.rfc4514_string()),
            issuer=printable(cert.issuer.rfc4514_string()),
            not_before=cert.not_valid_before_utc.timestamp(),
            not_after=cert.not_valid_after_utc.timestamp(),
            sans=sans,
        )
    except ValueError:
        return None


def cert_infos(ders: Iterable[bytes]) -> tuple[CertInfo, ...]:
    return tuple(info for der in ders if (info := cert_info(der)) is not None)


def days_left(chain: tuple[CertInfo, ...], now: float) -> float | None:
    """Days until the earliest expiry across the chain (negative once expired)."""
    if not chain:
        return None
    return (min(cert.not_after for cert in chain) - now) / 86400.0


def common_name(cert: CertInfo) -> str:
    match = _COMMON_NAME.search(cert.subject)
    return match[1].replace("\\", "") if match else cert.subject


async def handshake(
    host: str, port: int, context: ssl.SSLContext, server_name: str
) -> tuple[bytes, ...]:
    """Connect, complete a TLS handshake and return the presented chain; nothing else is said.

    The connection is aborted rather than shut down: waiting for the peer's close_notify
    would make a slow peer cost time after the answer is known.
    """
    _, writer = await asyncio.open_connection(
        host,
        port,
        ssl=context,
        server_hostname=server_name,
        happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
    )
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        return presented_chain(ssl_object) if ssl_object is not None else ()
    finally:
        writer.transport.abort()


def describe_tls_error(
    exc: ssl.SSLError, expected_name: str, chain: tuple[CertInfo, ...], now: float
) -> str:
    """One line for a failed handshake: expired, self-signed, wrong name, untrusted, ..."""
    if not isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.reason or str(exc)
        return f"TLS: {reason.lower().replace('_', ' ')}"
    code, message = exc.verify_code, (exc.verify_message or "certificate verify failed")
    if code in (_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH):
        names = _names(chain[0]) if chain else ()
        if not names:
            return f"TLS: certificate is not valid for {expected_name}"
        shown = ", ".join(names[:_NAMES_SHOWN]) + (", …" if len(names) > _NAMES_SHOWN else "")
        return f"TLS: certificate is for {shown}, not {expected_name}"
    if code == _CERT_HAS_EXPIRED:
        return "TLS: certificate has expired" + _which(chain, now, expired=True)
    if code == _CERT_NOT_YET_VALID:
        return "TLS: certificate is not yet valid" + _which(chain, now, expired=False)
    if code == _SELF_SIGNED:
        return "TLS: self-signed certificate"
    if code == _SELF_SIGNED_IN_CHAIN:
        return "TLS: self-signed certificate in the chain (its root is not trusted)"
    if code in _UNKNOWN_ISSUER:
        return f"TLS: certificate issuer is not trusted ({message})"
    return f"TLS: {message.rstrip('.')}"


def _names(cert: CertInfo) -> tuple[str, ...]:
    return cert.sans or (common_name(cert),)


def _which(chain: tuple[CertInfo, ...], now: float, *, expired: bool) -> str:
    """`` (CN expired 2026-01-02)``, naming the chain's offending certificate when known."""
    for cert in chain:
        if expired and cert.not_after < now:
            return f" ({common_name(cert)} expired {_date(cert.not_after)})"
        if not expired and cert.not_before > now:
            return f" ({common_name(cert)} valid from {_date(cert.not_before)})"
    return ""


def _date(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d")

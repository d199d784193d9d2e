"""Dashboard sessions: an access key and its secret, exchanged once for a cookie.

The browser never keeps the secret: signing in checks it against the key's sealed secret and
answers with a random session token in a cookie that is ``HttpOnly`` (no script reads it),
``SameSite=Strict`` (no other site's page sends it), scoped to ``/ui`` and expiring with the
session (``NXLINK_UI_SESSION_TTL_S``). The database keeps only the token's SHA-256, so a copy of
the database signs nobody in; revoking the key ends its sessions at once (the store's lookup
joins the key).

Every request that changes something is a ``POST`` that must carry the session's CSRF token
(a hidden form field, or the ``X-CSRF-Token`` header for the page's scripts) and come from this
origin (``Origin``, or ``Sec-Fetch-Site`` where a browser sends no ``Origin``). ``SameSite``
alone already keeps other sites' forms out in current browsers; the token and the origin check
keep them out in the others too. Signing in has no session yet: its form carries a token bound
to a short-lived pre-session cookie (the same double check), so no other site can sign a
visitor in to an account of its choosing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from nxlink.contract.codes import MESSAGES, Code
from nxlink.store import Store
from nxlink.store.base import UiSession, ui_token_hash

#: The session cookie, and the cookie of a sign-in form before any session exists.
COOKIE = "nxlink_session"
FORM_COOKIE = "nxlink_form"
#: Where the cookies are sent: the dashboard only (never the API or the admin API).
COOKIE_PATH = "/ui"
#: The form field and header that carry the CSRF token.
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
#: How long a sign-in form stays usable, in seconds.
FORM_TTL_S = 3600


class SignInRefused(Exception):
    """Signing in failed; the message is the API's own for the same credentials."""


class CsrfRefused(Exception):
    """A state-changing request without this session's token, or from another origin."""


def form_token(form_secret: str) -> str:
    """The sign-in form's token, bound to the pre-session cookie's random value."""
    return hmac.new(form_secret.encode(), b"nxlink sign-in form", hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just made: the cookie's token (shown once) and what the store keeps."""

    token: str
    session: UiSession


def sign_in(store: Store, access_key: str, secret: str, *, now_ms: int, ttl_s: int) -> NewSession:
    """A new session for the key's account, or :class:`SignInRefused` with the message the API
    answers a request signed with these credentials (insufficient authority for an unknown or
    revoked key, invalid signature for a wrong secret)."""
    access_key = access_key.strip()
    if not access_key or not secret:
        missing = ", ".join(
            name for name, value in (("Access key", access_key), ("Secret", secret)) if not value
        )
        raise SignInRefused(f"{MESSAGES[Code.MISSING_PARAMETERS]}: {missing}")
    auth = store.key_auth(access_key)
    if auth is None:
        raise SignInRefused(MESSAGES[Code.INSUFFICIENT_AUTHORITY])
    if not hmac.compare_digest(auth.secret.encode(), secret.encode()):
        raise SignInRefused(MESSAGES[Code.INVALID_SIGNATURE])
    token = secrets.token_urlsafe(32)
    session = store.create_ui_session(
        token_hash=ui_token_hash(token),
        account_id=auth.account_id,
        access_key=access_key,
        csrf_token=secrets.token_urlsafe(24),
        now_ms=now_ms,
        ttl_ms=ttl_s * 1000,
    )
    return NewSession(token=token, session=session)


def same_origin(headers: Mapping[str, str], *, host: str) -> bool:
    """Whether a state-changing request comes from a page of this server.

    ``Origin`` must name this host when sent; without it, ``Sec-Fetch-Site`` (sent by every
    current browser) must not say ``cross-site``. A request with neither comes from no browser
    page (a script or a test client) and is let through: the CSRF token still decides.
    """
    origin = headers.get("origin")
    if origin is not None and origin != "null":
        return origin.split("://", 1)[-1] == host
    if origin == "null":
        return False
    return headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def check_csrf(expected: str, sent: str | None) -> None:
    """:class:`CsrfRefused` unless ``sent`` is the expected token."""
    if not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfRefused("the form has expired or came from another site: reload the page")

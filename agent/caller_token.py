"""An optional shared token for the canary endpoints (``canary.token``).

``GET /canary/verdict`` (Argo Rollouts' ``web`` metric provider) and ``POST
/canary/flagger`` (Flagger's webhooks) answer what the judge says, and a ``post-rollout``
call closes an open question about a canary's verdict. With ``canary.token`` set, each
call must carry it:

- as ``Authorization: Bearer <token>``: Argo's ``web`` provider sends ``headers`` (the
  value from an AnalysisTemplate arg read with ``valueFrom.secretKeyRef``); checked
  before the body is read;
- or, for Flagger, whose webhooks send no headers of their own, as ``token`` in the
  webhook's ``metadata`` (the JSON body's ``metadata.token``), checked once the body
  (at most the route's 64 KiB) is read.

A call without it gets 401, one with another token 403, and nothing it asked is done.
Without ``canary.token`` anyone who can reach the pod may call (``config check`` warns).
Tokens are compared in constant time and never logged.

The same check guards the read endpoints with ``server.readToken`` (``GET /approvals``,
``/alerts``, ``/scaling``): a bearer token only, and a wrong one gets 401 as a missing
one does (``wrong_status``), each with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import threading
from collections.abc import Callable, Mapping

from pydantic import SecretStr

from agent.server import Request, Response

__all__ = ["CallerToken"]

log = logging.getLogger("autonomic.canary.auth")

# A refusal is logged at most this often (seconds) per route; the others are counted.
REFUSAL_LOG_EVERY = 60.0


class CallerToken:
    def __init__(
        self,
        token: SecretStr | None,
        *,
        setting: str,
        clock: Callable[[], float],
        refused: Callable[[str], None] | None = None,
        wrong_status: int = 403,
        endpoint: str = "canary endpoint",
        advice: str = (
            "Give Argo's web metric the header Authorization: Bearer <token>, or "
            "Flagger's webhook metadata.token, holding the token"
        ),
        logger: logging.Logger = log,
    ) -> None:
        """``wrong_status`` answers a token that is not this one (401 or 403);
        ``endpoint`` and ``advice`` word the warning a refusal logs (``advice`` is
        followed by the setting's name), written to ``logger``."""
        self._token = token
        self._setting = setting
        self._clock = clock
        self._refused = refused
        self._wrong_status = wrong_status
        self._endpoint = endpoint
        self._advice = advice
        self._log = logger
        self._lock = threading.Lock()
        self._said: dict[str, tuple[float, int]] = {}

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def check_headers(self, headers: Mapping[str, str]) -> Response | None:
        """The 401 or 403 for a call whose Authorization header does not carry the
        token, or None (also when no token is set)."""
        if self._token is None:
            return None
        given = _bearer(headers)
        if given is None:
            return self._refuse(401, "missing", "no bearer token")
        if not self._matches(given):
            return self._refuse(
                self._wrong_status, "wrong", "a bearer token that is not " + self._setting
            )
        return None

    def check_request(self, request: Request, *, in_metadata: bool) -> Response | None:
        """As ``check_headers``; with ``in_metadata`` (Flagger), a call without an
        Authorization header may carry the token as ``metadata.token`` in its JSON body."""
        if self._token is None:
            return None
        if not in_metadata or _bearer(request.headers) is not None:
            return self.check_headers(request.headers)
        given = _metadata_token(request.body)
        if given is None:
            return self._refuse(401, "missing", "no bearer token and no metadata.token")
        if not self._matches(given):
            return self._refuse(
                self._wrong_status, "wrong", "a metadata.token that is not " + self._setting
            )
        return None

    def guard(
        self, handler: Callable[[Request], Response], *, in_metadata: bool = False
    ) -> Callable[[Request], Response]:
        """``handler``, called only for a request that carries the token."""

        def guarded(request: Request) -> Response:
            refusal = self.check_request(request, in_metadata=in_metadata)
            return handler(request) if refusal is None else refusal

        return guarded

    def headers_check(self, *, in_metadata: bool) -> Callable[[Mapping[str, str]], Response | None]:
        """The check the server makes before reading the body: the whole check for a
        header-only caller; with ``in_metadata``, a wrong bearer token is refused early,
        while a call without one is left for the body's ``metadata.token``."""
        if not in_metadata:
            return self.check_headers

        def early(headers: Mapping[str, str]) -> Response | None:
            return None if _bearer(headers) is None else self.check_headers(headers)

        return early

    def _matches(self, given: str) -> bool:
        assert self._token is not None
        return hmac.compare_digest(given.encode(), self._token.get_secret_value().encode())

    def _refuse(self, status: int, reason: str, sent: str) -> Response:
        if self._refused is not None:
            self._refused(reason)
        now = self._clock()
        with self._lock:
            said_at, since = self._said.get(reason, (-math.inf, 0))
            quiet = now - said_at < REFUSAL_LOG_EVERY
            self._said[reason] = (said_at, since + 1) if quiet else (now, 0)
        if not quiet:
            more = f" ({since} more since the last warning)" if since else ""
            self._log.warning(
                "%s: a call refused with %d: it sent %s. %s %s names%s",
                self._endpoint,
                status,
                sent,
                self._advice,
                self._setting,
                more,
            )
        error = "missing bearer token" if reason == "missing" else "wrong token"
        return Response(
            status,
            json.dumps({"error": error}).encode() + b"\n",
            headers={"WWW-Authenticate": 'Bearer realm="autonomic"'} if status == 401 else {},
        )


def _bearer(headers: Mapping[str, str]) -> str | None:
    """The token of a ``Bearer`` Authorization header ("" for another scheme, so that it
    counts as a wrong token), or None without the header."""
    authorization = headers.get("authorization", "").strip()
    if not authorization:
        return None
    scheme, _, given = authorization.partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def _metadata_token(body: bytes) -> str | None:
    try:
        payload = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        return None
    metadata = payload.get("metadata") if isinstance(payload, dict) else None
    token = metadata.get("token") if isinstance(metadata, dict) else None
    return token if isinstance(token, str) and token else None

"""Slack, through slack-sdk: questions out, answers in, failures translated at the edge.

Out (``SlackChannel``): a Block Kit message per question, rewritten after the answer,
progress in its thread, escalations that mention the on-call group. Every call goes
through ``SlackApi``, which owns the retry policy so that nothing else has to:

- HTTP 429 or ``ratelimited``: wait the ``Retry-After`` Slack asks for, but only up to
  ``max_retry_after``; longer than that is a ``TransientError`` carrying the delay. A call
  that gives up on a 429 leaves the method quiet until that delay has passed: calls to it
  meanwhile fail at once (``SlackRateLimited``) instead of each waiting its own turn, so a
  storm of questions falls back to the ledger in seconds rather than holding the cycle;
- HTTP 5xx and Slack's own transient error codes: a bounded number of retries with
  backoff, then ``TransientError``;
- connection refused or not made: the same, reason ``SlackUnreachable``;
- a request that was sent but not answered (timed out or cut while waiting for the
  answer): retried for every method but ``chat.postMessage``, which Slack may have carried
  out already and which has no idempotency key; posting again would show the question
  twice. That post is a ``TransientError`` (``SlackNoAnswer``) after one try (a question
  is then posted again by ``Approvals.repost_unposted`` a minute later, its thread saying
  that an earlier copy may be above: nobody left unasked comes first);
- everything else (bad token, missing scope, unknown channel): ``PermanentError`` with
  the fix in the message. Tokens never appear in a message, a log line or the ledger.

In (``SlackReceiver``): the HTTP interactivity endpoint (``handle_interaction``, mounted
by the daemon's HTTP server) and Socket Mode (``start_socket_mode``, leader only: the
daemon's ``SocketModeLeader`` connects and disconnects as the lease comes and goes) share
one path: on the click worker (``ClickRecorder``), check the approver and compare-and-set
the answer in the ledger; the acknowledgement waits for that write up to ``ACK_WAIT``
(2 s), so that a click Slack was told is taken is in the ledger and a crash just after
cannot lose it (Slack does not send a click again). Slack gives 3 seconds for the
acknowledgement, and a ledger write may wait far longer (SQLite locked by another writer
up to its 30 s busy timeout, PostgreSQL failing over): past ``ACK_WAIT`` the click is
acknowledged all the same and recorded after. Before acknowledging, the HTTP
path verifies Slack's v0 signature, refuses timestamps outside the replay window and a
body that is not one of our clicks (4xx); a full click queue is a 503 (Slack shows the
clicker an error: nothing was taken). The ledger's compare-and-set stays the only guard
of exactly once: a Slack retry of a click is queued like the first delivery, and
recorded as a duplicate. A click the ledger could not take after ``record_attempts``
tries is said to the clicker (ephemeral) and logged. Everything else slow (the message
update, an ephemeral reply, the decision layer's ``on_answer``) runs on the approvals
worker.
"""

from __future__ import annotations

import hmac
import http.client
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.error import URLError
from urllib.parse import parse_qs

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from agent.adapters.slack_blocks import (
    ACTION_UNDO,
    ANSWERS,
    HINDSIGHT_VERDICTS,
    TEXT_LIMIT,
    answer_line,
    escalation_blocks,
    escalation_text,
    escape,
    plain_text,
    question_blocks,
    question_text,
    report_blocks,
    report_text,
    slack_date,
    undo_blocks,
    who_may_answer,
)
from agent.approvals import (
    AnswerHook,
    AnswerOutcome,
    Approvals,
    ApproverRule,
    FallbackChannel,
    LedgerOnlyChannel,
    PostLaterError,
)
from agent.errors import (
    AutonomicError,
    ConfigError,
    InputError,
    PermanentError,
    TransientError,
)
from agent.ids import short_id
from agent.kube_access import AccessCheck
from agent.ledger import DecisionRecord, Ledger, Question
from agent.settings import SlackSettings, resolve_secret
from agent.undo import REQUEST_KIND, ended, latest_request, request
from agent.verdicts import DEFAULT_REASK_AFTER_REJECT, hindsight_hold
from remediation.digits import ascii_digits
from remediation.windows import to_utc_text

__all__ = [
    "Approvers",
    "ButtonClick",
    "ClickRecorder",
    "MalformedInteractionError",
    "RetryPolicy",
    "SlackApi",
    "SlackChannel",
    "SlackReceiver",
    "SocketState",
    "VerdictClick",
    "build_approvals",
    "parse_click",
]

log = logging.getLogger("autonomic.slack")

SLACK_REF = "slack:"
# The interactivity endpoint's body limit, refused on the Content-Length before the body
# is read. Slack documents no limit for interaction payloads; a block_actions payload
# carries the message clicked (Slack caps a message at 50 blocks), form-encoded, and
# Autonomic's own questions make payloads of a few KB: 1 MiB is far more than they need.
MAX_BODY_BYTES = 1_048_576
# slack-sdk's Socket Mode client joins its threads when closed; one stuck (a reconnect in
# flight, a handler still running) would hold whoever closes it, the lease's loss or the
# shutdown. Closing waits this long, then leaves the rest to a background thread: the
# client has already stopped reconnecting by then, so it does not listen again.
SOCKET_CLOSE_WAIT = 8.0
# slack-sdk's builtin client reads a websocket frame by recursing once per ``recv``, each
# of at most this many bytes: with its default of 1 KiB, an envelope of about 1 MB takes
# more calls than Python's recursion limit, the frame is lost (never acknowledged) and
# the connection's reader is left mid-frame. Reading up to 1 MiB at a time keeps the
# depth at the number of reads the bytes arrive in.
SOCKET_RECEIVE_BUFFER = 1_048_576
# slack-sdk's builtin client pings Slack, and looks whether its connection is still up
# (reconnecting it if not), every this many seconds: its own default.
SOCKET_PING_INTERVAL = 5.0
# Clicks acknowledged and waiting for the ledger: past this many, an HTTP click is
# answered 503 and a Socket Mode click is told it was not taken (nothing is recorded).
CLICK_QUEUE = 64
# A click the ledger could not take is tried this many times, pausing RECORD_BACKOFF
# seconds, doubling, between tries; then the clicker is told it was not recorded.
RECORD_ATTEMPTS = 4
RECORD_BACKOFF = 2.0
# How long the answer to a click (HTTP 200, the Socket Mode acknowledgement) waits for
# the click worker to have written it to the ledger. Slack gives 3 s in all, the way
# there and back included. A click whose write is done by then is in the ledger when
# Slack hears "taken": a crash just after cannot lose it. One the ledger is slower for
# is answered all the same when this runs out, and recorded after (a crash in that
# window loses it: Slack does not send a click again).
ACK_WAIT = 2.0
# Threads of slack-sdk's Socket Mode listener pool (its default is 10). Each click's
# acknowledgement holds one for up to ``ACK_WAIT``: with ten, the eleventh click of a
# burst a slow ledger holds up began its wait only once one of the first ten ended
# theirs, and was acknowledged after twice ``ACK_WAIT``, past Slack's 3 s. One thread
# for every click that can wait (those queued and the one being recorded), and a few
# for the envelopes that are not clicks; the pool starts threads only as they are needed.
SOCKET_WORKERS = CLICK_QUEUE + 4
_QUESTION_ID = re.compile(r"^[0-9a-f]{32}$")
DEFAULT_UNDO_TTL = 3600.0  # safety.undoRequestTTL's default (agent.undo.DEFAULT_TTL)
_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
# The message metadata every question is posted with: its event type, and a payload
# naming the decision and the question, so that a post Slack did not answer can be found.
QUESTION_EVENT = "autonomic_question"
# How far before an unanswered post its channel's history is read: Slack's clock and
# ours may differ.
HISTORY_MARGIN = 60.0
_GROUP = re.compile(r"^S[A-Z0-9]{2,}$")
# Slack's error codes that mean "try again", as opposed to "fix something".
_TRANSIENT_CODES = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
_HINTS = {
    "invalid_auth": "check slack.botToken",
    "not_authed": "check slack.botToken",
    "token_revoked": "the bot token was revoked; install the app again and update slack.botToken",
    "account_inactive": "the bot's token belongs to a deactivated app or user",
    "channel_not_found": "check slack.channel, {channel}: use the channel id (C…), and invite "
    "the bot to a private channel",
    "not_in_channel": "invite the bot to channel {channel}: /invite @ and the app's name, there",
    "is_archived": "{channel} is archived: unarchive it, or set slack.channel to another",
    "missing_scope": "add the missing OAuth scope to the Slack app",
    "no_such_subteam": "check slack.approvers: a user group id (S…) does not exist",
    "message_not_found": "the question's Slack message was deleted",
    "cant_update_message": "only messages posted by this bot token can be updated",
    "edit_window_closed": "the message is too old to be edited",
}


# --------------------------------------------------------------------- the Web API
@dataclass(frozen=True)
class RetryPolicy:
    """How hard ``SlackApi`` tries before giving the failure to its caller."""

    attempts: int = 3
    max_retry_after: float = 30.0  # the longest Retry-After waited for in place
    backoff: float = 0.5  # seconds before the 2nd attempt; doubles after
    # Slack takes about one chat.postMessage a second per channel ("special" tier; bursts
    # briefly tolerated): posts to one channel go out at least this far apart, a tenth over
    # the second for the jitter of the way there (at 1.0 a strict limit still 429s). 0: off.
    post_interval: float = 1.1

    def pause(self, attempt: int) -> float:
        return float(self.backoff * 2.0 ** (attempt - 1))


class SlackApi:
    """The Slack Web API methods Autonomic calls, with one retry policy and typed errors."""

    def __init__(
        self,
        client: WebClient,
        *,
        quick: WebClient | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_failure: Callable[[str, str], None] | None = None,
    ) -> None:
        self._client = client
        # Told (method, reason code) of each call that ends in an error: the metric.
        self._on_failure = on_failure
        # Used inside Slack's 3-second acknowledgement: one try, a short timeout.
        self._quick = quick or client
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        # method -> when (``clock``) the Retry-After of a 429 a call gave up on has passed.
        self._quiet_until: dict[str, float] = {}
        self._quiet_lock = threading.Lock()
        # channel -> when (``clock``) its next chat.postMessage may go (``post_interval``);
        # a channel named (#ops) -> the id Slack answered with, so both share one turn.
        self._next_post: dict[str, float] = {}
        self._channel_ids: dict[str, str] = {}
        self._pace_lock = threading.Lock()

    @classmethod
    def connect(
        cls,
        token: SecretStr,
        *,
        base_url: str | None = None,
        timeout: int = 10,
        quick_timeout: int = 2,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_failure: Callable[[str, str], None] | None = None,
    ) -> SlackApi:
        """A client on ``base_url`` (Slack itself by default; a stand-in in tests).

        slack-sdk's own retry handlers are switched off: this class retries, with
        bounds and an injectable ``sleep``.
        """
        kwargs: dict[str, Any] = {"retry_handlers": []}
        if base_url is not None:
            kwargs["base_url"] = base_url if base_url.endswith("/") else base_url + "/"
        secret = token.get_secret_value()
        client = WebClient(token=secret, timeout=timeout, **kwargs)
        quick = WebClient(token=secret, timeout=quick_timeout, **kwargs)
        return cls(
            client, quick=quick, policy=policy, sleep=sleep, clock=clock, on_failure=on_failure
        )

    def __repr__(self) -> str:  # the client holds the token: never print it
        return f"SlackApi(base_url={self._client.base_url!r})"

    def post_message(
        self, channel: str, text: str, *, wait: float | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """``chat.postMessage`` at the channel's turn: posts to one channel go out
        ``policy.post_interval`` apart. ``wait``: the longest this call waits in place for
        its turn (default ``policy.max_retry_after``); a turn further off is a
        ``PostLaterError`` with the seconds left, and nothing is sent."""
        self._take_turn(channel, self.policy.max_retry_after if wait is None else wait)
        data = self._call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(channel=channel, text=text, **kwargs),
            channel=channel,
        )
        answered = data.get("channel")
        if isinstance(answered, str) and answered and answered != channel:
            with self._pace_lock:
                self._channel_ids[channel] = answered
        return data

    def channel_id(self, channel: str) -> str | None:
        """The id Slack answered a post to ``channel`` with (``#ops`` -> ``C…``), if any."""
        with self._pace_lock:
            return self._channel_ids.get(channel, channel if _CHANNEL_ID.match(channel) else None)

    def _take_turn(self, channel: str, wait: float) -> None:
        """Take the channel's next turn to post, waiting for it up to ``wait`` seconds."""
        interval = self.policy.post_interval
        if interval <= 0:
            return
        with self._pace_lock:
            key = self._channel_ids.get(channel, channel)
            now = self._clock()
            turn = max(now, self._next_post.get(key, 0.0))
            left = turn - now
            if left > wait:
                raise PostLaterError(
                    f"Slack takes one post a second in {channel}; its next turn is in {left:.1f} s",
                    delay=left,
                )
            self._next_post[key] = turn + interval
        if left > 0:
            self._sleep(left)

    def history(self, channel: str, oldest: float, *, pages: int = 5) -> list[dict[str, Any]]:
        """The channel's top-level messages since ``oldest`` (epoch seconds), newest
        first, with their metadata (``conversations.history``, ``include_all_metadata``):
        up to ``pages`` pages of 200."""
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(pages):

            def read(page: str | None = cursor) -> Any:
                return self._client.conversations_history(
                    channel=channel,
                    oldest=f"{oldest:.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=page,
                )

            data = self._call("conversations.history", read, channel=channel)
            found = data.get("messages")
            if isinstance(found, list):
                messages.extend(m for m in found if isinstance(m, dict))
            meta = data.get("response_metadata")
            cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
            if not data.get("has_more") or not cursor:
                break
        return messages

    def update_message(self, channel: str, ts: str, text: str, **kwargs: Any) -> dict[str, Any]:
        return self._call(
            "chat.update",
            lambda: self._client.chat_update(channel=channel, ts=ts, text=text, **kwargs),
            channel=channel,
        )

    def permalink(self, channel: str, ts: str) -> str:
        """The address of one message (``chat.getPermalink``), to link to it."""
        data = self._call(
            "chat.getPermalink",
            lambda: self._client.chat_getPermalink(channel=channel, message_ts=ts),
            channel=channel,
        )
        link = data.get("permalink")
        if not isinstance(link, str) or not link:
            raise TransientError(
                "Slack answered chat.getPermalink without a permalink", reason="SlackMalformed"
            )
        return link

    def post_ephemeral(self, channel: str, user: str, text: str) -> dict[str, Any]:
        return self._call(
            "chat.postEphemeral",
            lambda: self._client.chat_postEphemeral(channel=channel, user=user, text=text),
            channel=channel,
        )

    def group_members(self, group: str, *, retry: bool = True) -> list[str]:
        """Members of a user group; ``retry=False``: one quick try (the answer path)."""
        client = self._client if retry else self._quick
        data = self._call(
            "usergroups.users.list",
            lambda: client.usergroups_users_list(usergroup=group),
            retry=retry,
        )
        users = data.get("users")
        if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
            raise TransientError(
                f"Slack answered usergroups.users.list for {group} without a user list",
                reason="SlackMalformed",
            )
        return list(users)

    def auth_test(self) -> dict[str, Any]:
        """Who this token is; a bad token is a ``PermanentError`` naming the setting."""
        return self._call("auth.test", self._client.auth_test)

    def _call(
        self,
        method: str,
        invoke: Callable[[], Any],
        *,
        retry: bool = True,
        channel: str | None = None,
    ) -> dict[str, Any]:
        try:
            return self._attempt(method, invoke, retry=retry, channel=channel)
        except (TransientError, PermanentError) as exc:
            optional = method == "conversations.history" and exc.reason == "Slack:missing_scope"
            if self._on_failure is not None and not optional:
                # Reading the history is optional (its scope removes a duplicate post):
                # its missing scope is logged once by the channel, not counted as a
                # refusal a person must fix (AutonomicSlackRefused).
                self._on_failure(method, exc.reason)
            raise

    def _attempt(
        self, method: str, invoke: Callable[[], Any], *, retry: bool, channel: str | None
    ) -> dict[str, Any]:
        attempts = self.policy.attempts if retry else 1
        self._check_quiet(method)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                data = invoke().data
            except SlackApiError as exc:
                wait = self._classify(method, exc, attempt, last, channel)
            except URLError as exc:  # urllib wraps what fails before the request is sent
                if last:
                    raise TransientError(
                        f"Slack is unreachable ({method} failed {attempts} times: {exc.reason})",
                        delay=self.policy.pause(attempt + 1),
                        reason="SlackUnreachable",
                    ) from exc
                wait = self.policy.pause(attempt)
            except (OSError, http.client.HTTPException) as exc:
                # Sent, then no answer: Slack may have carried it out.
                reason = str(getattr(exc, "reason", None) or exc) or type(exc).__name__
                if method == "chat.postMessage":
                    raise TransientError(
                        f"Slack did not answer {method} ({reason}); the message may have been "
                        "posted, so it is not posted again now",
                        delay=self.policy.pause(attempt + 1),
                        reason="SlackNoAnswer",
                    ) from exc
                if last:
                    raise TransientError(
                        f"Slack is unreachable ({method} failed {attempts} times: {reason})",
                        delay=self.policy.pause(attempt + 1),
                        reason="SlackUnreachable",
                    ) from exc
                wait = self.policy.pause(attempt)
            else:
                if not isinstance(data, dict):
                    raise TransientError(
                        f"Slack answered {method} with a body that is not JSON",
                        reason="SlackMalformed",
                    )
                return data
            log.info(
                "Slack %s failed (attempt %d of %d); retrying in %.1f s",
                method,
                attempt,
                attempts,
                wait,
            )
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _classify(
        self, method: str, exc: SlackApiError, attempt: int, last: bool, channel: str | None
    ) -> float:
        """Seconds to wait before retrying ``exc``; raises when it must not be retried."""
        response = exc.response
        status = int(response.status_code)
        data = response.data if isinstance(response.data, dict) else {}
        # Slack's error code rides on HTTP 200 (and 429); other statuses carry HTML.
        code = str(data.get("error") or "") if status in (200, 429) else ""
        code = code or f"HTTP {status}"
        if status == 429 or code == "ratelimited":
            wait = _retry_after(response.headers)
            if last or wait > self.policy.max_retry_after:
                with self._quiet_lock:
                    self._quiet_until[method] = max(
                        self._quiet_until.get(method, 0.0), self._clock() + wait
                    )
                raise TransientError(
                    f"Slack rate-limited {method}; it asks to wait {wait:.0f} s",
                    delay=wait,
                    reason="SlackRateLimited",
                ) from exc
            return wait
        if status >= 500 or code in _TRANSIENT_CODES:
            if last:
                raise TransientError(
                    f"Slack failed {method} ({code}) {attempt} times",
                    delay=self.policy.pause(attempt + 1),
                    reason="SlackUnavailable",
                ) from exc
            return self.policy.pause(attempt)
        hint = _HINTS.get(code, "").format(channel=channel or "slack.channel")
        if code == "missing_scope" and data.get("needed"):
            hint = f"add the OAuth scope {data['needed']} to the Slack app"
        message = f"Slack refused {method}: {code}" + (f" ({hint})" if hint else "")
        raise PermanentError(message, reason=f"Slack:{code}") from exc

    def _check_quiet(self, method: str) -> None:
        """Fail at once while a 429 a call gave up on still asks to wait."""
        with self._quiet_lock:
            until = self._quiet_until.get(method, 0.0)
        left = until - self._clock()
        if left > 0:
            raise TransientError(
                f"Slack rate-limited {method}; {left:.0f} s are left of the wait it asked for, "
                "so it is not called before then",
                delay=left,
                reason="SlackRateLimited",
            )


def _retry_after(headers: Mapping[str, Any] | None) -> float:
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                break
    return 1.0


def question_metadata(decision: DecisionRecord, question: Question) -> dict[str, Any]:
    """The message metadata a question is posted with (Slack's ``metadata`` argument)."""
    return {
        "event_type": QUESTION_EVENT,
        "event_payload": {"decision_id": decision.id, "question_id": question.id},
    }


# ---------------------------------------------------------------------- approvers
class Approvers:
    """Who may answer: listed user ids, or members of listed user groups.

    ``slack.approvers`` always applies; ``slack.approversByNamespace`` and a runbook's
    ``spec.approvers`` narrow it (``agent.approvals.ApproverRule``): an answer must come
    from someone each applicable list admits. Group membership comes from
    ``usergroups.users.list`` and is cached for ``cache_ttl``; someone a cached list
    does not name is looked up again first when the list is ``recheck_after`` old or
    more (a rotation's hand-over adds the new on-call to the group: they may answer at
    once, not minutes later), and the list read then is kept. When Slack cannot be
    asked, or refuses, a membership list up to ``stale_grace`` old is still trusted;
    older than that, or never fetched, the answer is no (a refusal is recoverable, a
    wrong approval is not). A group Slack says does not exist (``no_such_subteam``:
    deleted or disabled) has its list dropped: nobody is admitted as its member.
    """

    def __init__(
        self,
        approvers: Iterable[str],
        api: SlackApi | None,
        *,
        by_namespace: Mapping[str, Iterable[str]] | None = None,
        cache_ttl: float = 300.0,
        stale_grace: float = 3600.0,
        recheck_after: float = 30.0,
    ) -> None:
        ids = tuple(approvers)
        bad = [a for a in ids if not (_USER.match(a) or _GROUP.match(a))]
        if bad:
            raise ConfigError(
                "slack.approvers: expected Slack user ids (U…/W…) or user group ids (S…), "
                f"got {', '.join(repr(b) for b in bad)}"
            )
        namespaces = {ns: tuple(listed) for ns, listed in (by_namespace or {}).items()}
        for ns, listed in namespaces.items():
            wrong = [a for a in listed if not (_USER.match(a) or _GROUP.match(a))]
            if wrong or not listed:
                raise ConfigError(
                    f"slack.approversByNamespace.{ns}: expected one or more Slack user ids "
                    f"(U…/W…) or user group ids (S…), got {list(listed)!r}"
                )
        self.rule = ApproverRule(ids, namespaces)
        self.users = frozenset(a for a in ids if _USER.match(a))
        # Every group the configuration names: the periodic refresh keeps them warm.
        self.groups = tuple(
            dict.fromkeys(
                a for a in (*ids, *(a for v in namespaces.values() for a in v)) if _GROUP.match(a)
            )
        )
        if self.groups and api is None:
            raise ConfigError("slack.approvers names user groups but Slack is not connected")
        self._api = api
        self.cache_ttl = cache_ttl
        self.stale_grace = stale_grace
        self.recheck_after = recheck_after
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        # group -> Slack's refusal of its last lookup (missing_scope, no_such_subteam...).
        self._refused: dict[str, str] = {}
        self._lock = threading.Lock()

    def check(
        self, user_id: str, now: float, lists: Iterable[Mapping[str, Any]] | None = None
    ) -> tuple[bool, str]:
        """(allowed, why): in every one of ``lists`` (default: ``slack.approvers``); one
        quick try per stale group, never a long wait."""
        if lists is None:
            lists = [{"source": "slack.approvers", "ids": list(self.rule.approvers)}]
        whys: list[str] = []
        for listed in lists:
            ids = [str(i) for i in listed.get("ids") or ()]
            allowed, why = self._admits(user_id, ids, now)
            if not allowed:
                if why is None:
                    return False, f"not a configured approver in {listed.get('source')}"
                return False, why
            whys.append(why or "")
        return True, "; ".join(w for w in whys if w)

    def _admits(self, user_id: str, ids: list[str], now: float) -> tuple[bool, str | None]:
        """(True, how) if ``ids`` admits ``user_id``; (False, None) if it does not;
        (False, why) if a group's membership could not be read."""
        if user_id in ids:
            return True, "listed approver"
        unknown: list[str] = []
        for group in (i for i in ids if _GROUP.match(i)):
            members = self._group(group, now, user_id)
            if members is None:
                unknown.append(group)
            elif user_id in members:
                return True, f"member of approver group {group}"
        if unknown:
            with self._lock:
                refused = {g: self._refused[g] for g in unknown if g in self._refused}
            if len(refused) == len(unknown):  # retrying will not help: a person must act
                said = "; ".join(f"{g}: {why}" for g, why in refused.items())
                return False, (
                    f"could not read the members of {', '.join(unknown)} from Slack ({said}); "
                    "nobody may answer as a member until the Slack app is fixed"
                )
            return False, (
                f"could not check membership of {', '.join(unknown)} with Slack; try again"
            )
        return False, None

    def refresh(self, now: float) -> None:
        """Fetch every group now (a periodic job keeps the answer path off the network):
        the configuration's, and any a runbook named that an answer has checked since."""
        with self._lock:
            seen = tuple(self._members)
        for group in dict.fromkeys((*self.groups, *seen)):
            self._fetch(group, now, retry=True)

    def known_members(self) -> dict[str, frozenset[str]]:
        """The members of each group fetched so far (however old the answer)."""
        with self._lock:
            return {group: members for group, (_, members) in self._members.items()}

    def _group(self, group: str, now: float, user_id: str) -> frozenset[str] | None:
        """The members of ``group`` to check ``user_id`` against: the cached list while
        it is fresh, unless it lacks ``user_id`` and is ``recheck_after`` old (then
        Slack's list now, the cached one if Slack cannot say); else Slack's list now."""
        with self._lock:
            cached = self._members.get(group)
        if cached is not None:
            age = now - cached[0]
            fresh = age < self.cache_ttl
            if fresh and (user_id in cached[1] or age < self.recheck_after):
                return cached[1]
        fetched = self._fetch(group, now, retry=False)
        if fetched is not None:
            return fetched
        with self._lock:  # a group Slack says does not exist has no list any more
            cached = self._members.get(group)
        if cached is not None and now - cached[0] < self.stale_grace:
            return cached[1]
        return None

    def _fetch(self, group: str, now: float, *, retry: bool) -> frozenset[str] | None:
        if self._api is None:
            return None
        try:
            members = frozenset(self._api.group_members(group, retry=retry))
        except (TransientError, PermanentError) as exc:
            log.warning("could not list members of approver group %s: %s", group, exc)
            with self._lock:
                if isinstance(exc, PermanentError):
                    self._refused[group] = str(exc)
                    if exc.reason == "Slack:no_such_subteam":
                        # Deleted or disabled: its old members are members of nothing.
                        self._members.pop(group, None)
                else:
                    self._refused.pop(group, None)
            return None
        with self._lock:
            self._members[group] = (now, members)
            self._refused.pop(group, None)
        return members


# ------------------------------------------------------------------------ the channel
def _clicked_elsewhere(
    what: str, refs: Iterable[str | None], payload: Mapping[str, Any]
) -> str | None:
    """Why a click cannot be on ``what``, posted in Slack as the messages ``refs``, or
    None: its payload's ``channel.id`` or ``container.channel_id`` names a channel none of
    them was posted in, or none at all. None also when none of ``refs`` is a Slack
    message in a channel (nothing to hold the click to)."""
    posted = list(
        dict.fromkeys(
            where[0]
            for ref in refs
            if (where := parse_ref(ref)) is not None and _CHANNEL_ID.match(where[0])
        )
    )
    if not posted:
        return None
    container = payload.get("container")
    channel = payload.get("channel")
    said = [
        value
        for value in (
            container.get("channel_id") if isinstance(container, Mapping) else None,
            channel.get("id") if isinstance(channel, Mapping) else None,
        )
        if value
    ]
    if said and all(value in posted for value in said):
        return None
    shown = ", ".join(str(value) for value in dict.fromkeys(said)) or "no channel"
    return f"{what} was posted in {', '.join(posted)}, and this click came from {shown}"


def parse_ref(ref: str | None) -> tuple[str, str] | None:
    """``slack:C123:1700000000.000100`` -> (channel, ts); None for other channels."""
    if not ref or not ref.startswith(SLACK_REF):
        return None
    channel, _, ts = ref[len(SLACK_REF) :].partition(":")
    return (channel, ts) if channel and ts else None


class SlackChannel:
    """``ApprovalChannel`` on Slack: one message per question, progress in its thread."""

    name = "slack"

    def __init__(
        self,
        api: SlackApi,
        channel: str,
        *,
        oncall_group: str | None = None,
        cluster: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if oncall_group is not None and not _GROUP.match(oncall_group):
            raise ConfigError(
                f"slack.oncallGroup: expected a user group id (S…), got {oncall_group!r}"
            )
        self.api = api
        self.channel = channel
        self.oncall_group = oncall_group
        self.cluster = cluster
        self.clock = clock
        # question id -> when (epoch seconds) a post of it went unanswered (SlackNoAnswer):
        # Slack may have posted it, so its history is searched before posting it again.
        self._unanswered: dict[str, float] = {}
        # question ids whose unanswered post was found in the channel and adopted.
        self._found: set[str] = set()
        # Whether the token may read the channel's history (channels:history or
        # groups:history); None until conversations.history was tried once.
        self.can_read_history: bool | None = None
        self._lock = threading.Lock()

    def ask(self, decision: DecisionRecord, question: Question) -> str:
        """Post the question, tagged with message metadata (``autonomic_question``, its
        decision and question ids). It does not wait for the channel's turn: a
        ``PostLaterError`` says when that comes. A post of it that Slack may have carried out
        without answering is first looked for in the channel's history, when the app
        may read it: found, that message is the question's, and nothing is posted."""
        with self._lock:
            tried = self._unanswered.get(question.id)
        if tried is not None:
            found = self._find_posted(decision, question, tried)
            if found is not None:
                return found
        attempt = self.clock()
        try:
            sent = self.api.post_message(
                self.channel,
                question_text(decision),
                wait=0.0,
                blocks=question_blocks(decision, question, cluster=self.cluster),
                unfurl_links=False,
                metadata=question_metadata(decision, question),
            )
        except TransientError as exc:
            if exc.reason == "SlackNoAnswer":
                with self._lock:
                    self._unanswered.setdefault(question.id, attempt)
            raise
        with self._lock:
            self._unanswered.pop(question.id, None)
        return f"{SLACK_REF}{sent['channel']}:{sent['ts']}"

    def found_posted(self, question_id: str) -> bool:
        """Whether the question's message was found in the channel (a post Slack carried
        out without answering), rather than posted by the last ``ask``."""
        with self._lock:
            return question_id in self._found

    def _find_posted(
        self, decision: DecisionRecord, question: Question, tried: float
    ) -> str | None:
        """The reference of the question's message if Slack posted it after all; None
        when it did not, or when the app may not read the channel's history (then the
        question is posted again, and may show twice)."""
        if self.can_read_history is False:
            with self._lock:
                self._unanswered.pop(question.id, None)
            return None
        # Slack's clock and ours may differ: a minute's margin; the ids make it exact.
        oldest = tried - HISTORY_MARGIN
        channel = self._channel_id() or self.channel
        try:
            messages = self.api.history(channel, oldest)
        except PermanentError as exc:
            if exc.reason != "Slack:missing_scope":
                log.warning(
                    "Slack: could not look for question %s in the history of %s (%s); it is "
                    "posted again and may show twice",
                    question.id,
                    channel,
                    exc,
                )
                with self._lock:
                    self._unanswered.pop(question.id, None)
                return None
            self.can_read_history = False
            log.warning(
                "Slack: the app may not read the history of %s (it lacks channels:history, "
                "or groups:history for a private channel), so a question whose post Slack "
                "did not answer is posted again and may show twice; add the scope to the "
                "Slack app to have it looked for first",
                self.channel,
            )
            return None
        self.can_read_history = True
        for message in messages:
            meta = message.get("metadata")
            payload = meta.get("event_payload") if isinstance(meta, dict) else None
            if (
                isinstance(payload, dict)
                and meta.get("event_type") == QUESTION_EVENT  # type: ignore[union-attr]
                and payload.get("question_id") == question.id
                and payload.get("decision_id") == decision.id
                and isinstance(message.get("ts"), str)
            ):
                with self._lock:
                    self._unanswered.pop(question.id, None)
                    self._found.add(question.id)
                log.info(
                    "question %s: the post Slack did not answer was found in %s (ts %s); "
                    "it is not posted again",
                    question.id,
                    channel,
                    message["ts"],
                )
                return f"{SLACK_REF}{channel}:{message['ts']}"
        with self._lock:
            self._unanswered.pop(question.id, None)
        return None

    def _channel_id(self) -> str | None:
        """The id of the configured channel, once a post has told it."""
        return self.api.channel_id(self.channel)

    def update(self, decision: DecisionRecord, question: Question, note: str) -> None:
        """Rewrite the question's message; when Slack refuses to (someone deleted it, or it
        can no longer be edited), the news goes in its thread, or, the message deleted, in
        the channel: the answer stands in the ledger either way."""
        channel, ts = self._where(question)
        try:
            self.rewrite_only(decision, question, note)
        except PermanentError as exc:
            line = answer_line(question)
            news = f"{line} {plain_text(note)}" if line else plain_text(note)
            if exc.reason == "Slack:message_not_found":
                self.api.post_message(
                    self.channel,
                    f"The question about {escape(decision.subject)} (decision "
                    f"{short_id(decision.id)}; its message was deleted): {news}",
                    unfurl_links=False,
                )
            else:
                self.api.post_message(channel, news, thread_ts=ts)
            log.warning(
                "could not rewrite question %s's Slack message (%s); said so in %s",
                question.id,
                exc,
                "the channel" if exc.reason == "Slack:message_not_found" else "its thread",
            )

    def rewrite_only(self, decision: DecisionRecord, question: Question, note: str) -> None:
        """Rewrite the question's message, and nothing else: Slack's refusal is raised
        (``update`` says it elsewhere). For a rewrite likely shown already (a start's,
        ``Approvals.restate``), whose refusal was said when it was first made."""
        channel, ts = self._where(question)
        self.api.update_message(
            channel,
            ts,
            f"{question_text(decision)} — {question.status}",
            blocks=question_blocks(decision, question, note, cluster=self.cluster),
        )

    def point_to(self, question: Question, kept: str) -> None:
        """Rewrite ``question``'s message (a second copy of the question, posted by
        another replica at the same time: the ledger keeps ``kept``) as a pointer to the
        copy the ledger keeps, with no buttons: answers go there, and that is the
        message rewritten with the answer. Without the link (Slack would not give it),
        the pointer says the copy is in this channel."""
        channel, ts = self._where(question)
        where = parse_ref(kept)
        link: str | None = None
        if where is not None:
            try:
                link = self.api.permalink(where[0], where[1])
            except (TransientError, PermanentError) as exc:
                log.warning("Slack: no link to question %s's message: %s", question.id, exc)
        shown = f"<{link}|this message>" if link else "another message in this channel"
        said = "another message in this channel" if link is None else link
        text = f"A copy of this question was posted at {said}; answer there."
        mrkdwn = (
            f"A copy of this question (decision {short_id(question.decision_id)}) was "
            f"posted at {shown}; answer there."
        )
        self.api.update_message(
            channel,
            ts,
            plain_text(text),
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}],
        )

    def thread(self, question: Question, text: str) -> None:
        """``text`` in the question's thread, escaped and cut below Slack's limit on a
        message's text (``plain_text``): an alert's description or a long evidence string
        would otherwise be refused whole (``msg_too_long``), and the line lost."""
        channel, ts = self._where(question)
        self.api.post_message(channel, plain_text(text), thread_ts=ts)

    def escalate(self, decision: DecisionRecord, why: str) -> str:
        sent = self.api.post_message(
            self.channel,
            escalation_text(decision, why, self.oncall_group),
            blocks=escalation_blocks(decision, why, self.oncall_group, cluster=self.cluster),
            unfurl_links=False,
        )
        return f"{SLACK_REF}{sent['channel']}:{sent['ts']}"

    def report(self, decision: DecisionRecord, why: str) -> str:
        sent = self.api.post_message(
            self.channel,
            report_text(decision),
            blocks=report_blocks(decision, why, cluster=self.cluster),
            unfurl_links=False,
        )
        return f"{SLACK_REF}{sent['channel']}:{sent['ts']}"

    def note(self, ref: str, text: str) -> None:
        """``text`` in the thread of ``ref``, escaped and cut as ``thread`` does."""
        where = parse_ref(ref)
        if where is None:
            raise PermanentError(f"{ref!r} is not a Slack message", reason="NotInSlack")
        self.api.post_message(where[0], plain_text(text), thread_ts=where[1])

    def offer_undo(self, ref: str, decision: DecisionRecord, text: str) -> str:
        """``text`` in the thread of ``ref`` (a question's or a report's message), with an
        Undo button; returns the new message's reference."""
        where = parse_ref(ref)
        if where is None:
            raise PermanentError(f"{ref!r} is not a Slack message", reason="NotInSlack")
        sent = self.api.post_message(
            where[0],
            plain_text(text),
            thread_ts=where[1],
            blocks=undo_blocks(decision, escape(text)),
        )
        return f"{SLACK_REF}{sent['channel']}:{sent['ts']}"

    def rewrite(self, ref: str, text: str, *, mrkdwn: str | None = None) -> None:
        """Rewrite one of our messages (an Undo button's) with ``text``, no buttons;
        ``mrkdwn``, when given, is shown instead, as written (mentions, dates)."""
        where = parse_ref(ref)
        if where is None:
            raise PermanentError(f"{ref!r} is not a Slack message", reason="NotInSlack")
        shown = escape(text) if mrkdwn is None else mrkdwn
        self.api.update_message(
            where[0], where[1], plain_text(text), blocks=undo_blocks(None, shown, offer=False)
        )

    def announce(self, text: str) -> None:
        """A message to the channel about no decision (a pause of Autonomic, a resume),
        escaped and cut as ``thread`` does."""
        self.api.post_message(self.channel, plain_text(text), unfurl_links=False)

    def tell(self, channel: str, user: str, text: str, mrkdwn: str = "") -> None:
        """A reply only ``user`` sees (refusals, "already answered"); ``mrkdwn`` follows
        unescaped (the mentions of who may answer)."""
        shown = plain_text(text, TEXT_LIMIT - len(mrkdwn) - 1) if mrkdwn else plain_text(text)
        self.api.post_ephemeral(channel, user, shown + (f" {mrkdwn}" if mrkdwn else ""))

    @staticmethod
    def _where(question: Question) -> tuple[str, str]:
        where = parse_ref(question.message_ref)
        if where is None:
            raise PermanentError(
                f"question {question.id} was never posted to Slack", reason="NotInSlack"
            )
        return where


# ----------------------------------------------------------------------- receiving
class MalformedInteractionError(ValueError):
    """The request is not a well-formed Slack interaction (HTTP 400)."""


@dataclass(frozen=True)
class ButtonClick:
    """One click on one of our buttons, as Slack reported it."""

    user_id: str
    user_name: str
    question_id: str
    answer: str  # approved | rejected | snoozed
    channel_id: str | None
    message_ts: str | None
    action_ts: float | None


@dataclass(frozen=True)
class VerdictClick:
    """A click on an escalation's "It was the fix" / "It was not" buttons."""

    user_id: str
    user_name: str
    decision_id: str
    right: bool
    channel_id: str | None
    message_ts: str | None


@dataclass(frozen=True)
class UndoClick:
    """A click on the Undo button under an action that verified."""

    user_id: str
    user_name: str
    decision_id: str
    channel_id: str | None
    message_ts: str | None


Click = ButtonClick | VerdictClick | UndoClick


@dataclass(frozen=True)
class PendingClick:
    """A click acknowledged to Slack and not yet recorded."""

    payload: Mapping[str, Any]
    click: Click
    now: float  # when it was received: expiry and approver checks are as of then
    via: str  # "HTTP" or "Socket Mode"
    # Set once the click worker is done with it: recorded, refused, or given up on.
    done: threading.Event = field(default_factory=threading.Event, compare=False)


class ClickRecorder:
    """One worker thread that records acknowledged clicks, in the order they came.

    ``offer`` never blocks: it returns False when ``maxsize`` clicks already wait.
    ``wait(seconds)`` is the pause between tries of one click; ``stop`` cuts it short.
    """

    def __init__(
        self,
        record: Callable[[PendingClick], None],
        *,
        maxsize: int = CLICK_QUEUE,
        name: str = "autonomic-slack-clicks",
    ) -> None:
        self._record = record
        self.maxsize = maxsize
        self._name = name
        self._items: deque[PendingClick] = deque()
        self._busy = False
        self._stopping = threading.Event()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def offer(self, item: PendingClick) -> bool:
        with self._cond:
            if self._stopping.is_set() or len(self._items) >= self.maxsize:
                return False
            self._items.append(item)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return True

    def waiting(self) -> int:
        """Clicks queued, not counting the one being recorded."""
        with self._cond:
            return len(self._items)

    def wait(self, seconds: float) -> bool:
        """Pause between tries; True if ``stop`` was called meanwhile."""
        return self._stopping.wait(seconds)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every click offered so far is recorded or given up on."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._items and not self._busy, timeout)

    def stop(self, timeout: float = 10.0) -> list[PendingClick]:
        """Take no more clicks, let the queue empty for up to ``timeout`` seconds (a click
        between tries is given up on at once), and return the clicks never tried."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
            self._cond.wait_for(lambda: not self._items and not self._busy, timeout)
            left = list(self._items)
            self._items.clear()
            self._cond.notify_all()
        for item in left:
            item.done.set()
        return left

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items:
                    if self._stopping.is_set():
                        return
                    self._cond.wait(1.0)
                item = self._items.popleft()
                self._busy = True
            try:
                self._record(item)
            except Exception:
                log.exception("recording a Slack click failed")
            finally:
                item.done.set()
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


def parse_click(payload: Mapping[str, Any]) -> Click | None:
    """A ``block_actions`` payload -> the click; None for interactions that are not ours."""
    if payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    user = payload.get("user")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise MalformedInteractionError("block_actions without actions")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        raise MalformedInteractionError("block_actions without user.id")
    action = actions[0]
    answer = ANSWERS.get(str(action.get("action_id")))
    verdict = HINDSIGHT_VERDICTS.get(str(action.get("action_id")))
    undo = str(action.get("action_id")) == ACTION_UNDO
    if answer is None and verdict is None and not undo:
        return None
    question_id = action.get("value")
    if not isinstance(question_id, str) or not _QUESTION_ID.match(question_id):
        raise MalformedInteractionError("the button's value is not a question or decision id")
    container = payload.get("container") if isinstance(payload.get("container"), dict) else {}
    channel = payload.get("channel") if isinstance(payload.get("channel"), dict) else {}
    assert isinstance(container, dict) and isinstance(channel, dict)
    channel_id = container.get("channel_id") or channel.get("id")
    try:
        action_ts = float(action["action_ts"]) if "action_ts" in action else None
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer of 400 digits
        raise MalformedInteractionError("action_ts is not a timestamp") from None
    user_id = user["id"]
    user_name = str(user.get("username") or user.get("name") or user_id)
    where = str(channel_id) if channel_id else None
    message_ts = str(container.get("message_ts")) if container.get("message_ts") else None
    if undo:
        return UndoClick(user_id, user_name, question_id, where, message_ts)
    if verdict is not None:
        return VerdictClick(user_id, user_name, question_id, verdict, where, message_ts)
    assert answer is not None
    return ButtonClick(user_id, user_name, question_id, answer, where, message_ts, action_ts)


@dataclass(frozen=True)
class SocketState:
    """Where the Socket Mode connection stands, as slack-sdk's client knows it.

    ``failure`` says, in Autonomic's words, what last went wrong (the connection failed
    or was closed, or a reconnection failed): a type name, an HTTP status or a close
    code, never an exception's text, which may carry the wss URL and its ticket.
    ``failed_reconnects`` counts the reconnections slack-sdk tried and failed, since
    the client was made."""

    connected: bool
    failure: str | None
    failed_reconnects: int


def _reconnect_failure(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        data = exc.response.data
        code = data.get("error") if isinstance(data, dict) else None
        status = exc.response.status_code
        return f"Slack answered apps.connections.open with HTTP {status}" + (
            f" ({code})" if isinstance(code, str) and code.isascii() and code.isidentifier() else ""
        )
    return f"reconnecting failed ({type(exc).__name__})"


def _socket_mode_client(app_token: str, web: WebClient | None, ping_interval: float) -> Any:
    """slack-sdk's builtin ``SocketModeClient``, except that once closed it never
    connects again, and that it keeps what last went wrong with its connection.

    slack-sdk handles a ``disconnect`` message (and a lost connection) by connecting to
    a new URL without looking at whether the client was closed meanwhile: a disconnect
    already taken off its queue when the lease went would open a connection nobody reads
    or closes, where Slack would still deliver (and re-deliver) answers.

    slack-sdk logs its connection's failures, closes and reconnections through its own
    logger, which stays silent in the daemon (docs/deploy.md, "Logs"): the client notes
    them (``socket_state``) for ``SocketModeLeader`` to say in the daemon's words.
    """
    from slack_sdk.socket_mode import SocketModeClient

    class ClosingClient(SocketModeClient):
        failure: str | None = None
        failed_reconnects: int = 0

        def connect_to_new_endpoint(self, force: bool = False) -> None:
            if self.closed:
                return
            try:
                super().connect_to_new_endpoint(force)
            except Exception as exc:  # slack-sdk logs it (silently) and tries again later
                if not self.closed:
                    self.failed_reconnects += 1
                    self.failure = _reconnect_failure(exc)
                raise

        def connect(self) -> None:
            super().connect()
            if self.closed:  # closed while it connected: close what it just opened
                self.disconnect()

        def socket_state(self) -> SocketState:
            return SocketState(self.is_connected(), self.failure, self.failed_reconnects)

    client = ClosingClient(
        app_token=app_token,
        web_client=web,
        receive_buffer_size=SOCKET_RECEIVE_BUFFER,
        ping_interval=ping_interval,
        concurrency=SOCKET_WORKERS,
    )

    def failed(error: Exception) -> None:
        client.failure = f"the connection failed ({type(error).__name__})"

    def closed(code: int, _reason: str | None) -> None:
        client.failure = f"Slack closed the connection (code {code})"

    client.on_error_listeners.append(failed)
    client.on_close_listeners.append(closed)
    return client


def _acknowledge_unrouted(client: Any, message: Mapping[str, Any], raw: str | None) -> None:
    """Acknowledge an envelope that slack-sdk passes to no request listener: one
    without a ``type`` or ``payload``, or whose payload is neither an object nor a
    string. Slack re-delivers an envelope it was not acknowledged for; these are
    nothing Autonomic acts on, so they are acknowledged and logged, never retried."""
    if not isinstance(message, Mapping) or "envelope_id" not in message:
        return  # not an envelope (not JSON, hello, ...): nothing to acknowledge
    try:
        if SocketModeRequest.from_dict(dict(message)) is not None:
            return  # handle_socket_request acknowledges it
    except ValueError:
        pass  # a payload slack-sdk cannot take: it would drop the envelope
    log.warning(
        "acknowledged a Socket Mode envelope that is not a request (type %r, payload %s)",
        message.get("type"),
        type(message.get("payload")).__name__ if "payload" in message else "missing",
    )
    client.send_socket_mode_response(SocketModeResponse(envelope_id=message["envelope_id"]))


class SlackReceiver:
    """Answers from Slack, over HTTP (signed requests) or Socket Mode (leader only)."""

    def __init__(
        self,
        approvals: Approvals,
        approvers: Approvers,
        *,
        signing_secret: SecretStr | None,
        replay_window: float,
        channel: SlackChannel | None = None,
        app_token: SecretStr | None = None,
        socket_base_url: str | None = None,
        clock: Callable[[], float] = time.time,
        undo_ttl: float = DEFAULT_UNDO_TTL,
    ) -> None:
        self.approvals = approvals
        self.approvers = approvers
        self.undo_ttl = undo_ttl
        self.replay_window = replay_window
        self.channel = channel
        self.clock = clock
        self._verifier = (
            SignatureVerifier(signing_secret.get_secret_value()) if signing_secret else None
        )
        self._app_token = app_token
        self._socket_base_url = socket_base_url
        self._socket: Any = None
        self._socket_lock = threading.Lock()
        self.socket_close_wait = SOCKET_CLOSE_WAIT
        self.socket_ping_interval = SOCKET_PING_INTERVAL
        self.record_attempts = RECORD_ATTEMPTS
        self.record_backoff = RECORD_BACKOFF
        self.ack_wait = ACK_WAIT
        self.clicks = ClickRecorder(self._record)

    # ---------------------------------------------------------------- HTTP
    def handle_interaction(
        self, body: bytes, headers: Mapping[str, str], now: float
    ) -> tuple[int, bytes]:
        """The interactivity endpoint: (status, body), within ``ack_wait`` seconds.

        401 for a missing or wrong signature or a timestamp outside the replay window,
        400 for a body that is not a Slack interaction, 503 when ``CLICK_QUEUE`` clicks
        already wait for the ledger, 200 otherwise. The click is recorded on the click
        worker, and the 200 waits for it up to ``ack_wait`` seconds: a click answered
        200 is in the ledger, unless the ledger took longer than that (then it is
        recorded after the answer). A refused, repeated or unrecorded click is said to
        the clicker in a reply only they see (Slack must not retry those). No ledger
        access or network on the request's own thread.
        """
        if self._verifier is None:
            return 404, b"interactivity over HTTP is not configured (slack.signingSecret)\n"
        if len(body) > MAX_BODY_BYTES:
            return 413, b"request body too large\n"
        refusal = self._verify(body, headers, now)
        if refusal is not None:
            log.warning("refused a Slack interaction: %s", refusal)
            return 401, (refusal + "\n").encode()
        try:
            payload = _form_payload(body)
            click = parse_click(payload)
        except MalformedInteractionError as exc:
            return 400, f"not a Slack interaction: {exc}\n".encode()
        if click is None:
            return 200, b""
        retry = {k.lower(): v for k, v in headers.items()}.get("x-slack-retry-num")
        if retry:  # recorded as a duplicate by the ledger if the first delivery was
            log.info("Slack delivered a click by %s again (retry %s)", click.user_id, retry)
        pending = PendingClick(payload, click, now, "HTTP")
        if not self.clicks.offer(pending):
            why = self._why_not_taken()
            log.warning(
                "a Slack click by %s was answered 503, not recorded: %s", click.user_id, why
            )
            said = (
                f"{why[:1].upper()}{why[1:]}; this click was not recorded: click again in a minute"
            )
            return 503, (said + "\n").encode()
        # Answered once written (a crash after the 200 cannot lose it), or at the latest
        # when Slack's patience is nearly out.
        pending.done.wait(self.ack_wait)
        return 200, b""

    def _why_not_taken(self) -> str:
        if self.clicks.stopping:
            return "Autonomic is stopping"
        return (
            f"Autonomic has {self.clicks.maxsize} clicks waiting for its ledger (locked or away?)"
        )

    def check_headers(self, headers: Mapping[str, str], now: float) -> tuple[int, bytes] | None:
        """The interactivity endpoint's answer from the headers alone, before the body
        is read: 404 when it is not configured, 401 without Slack's signature headers
        or with a timestamp outside the replay window; None to read the body and go on
        (``handle_interaction`` checks the signature against it)."""
        if self._verifier is None:
            return 404, b"interactivity over HTTP is not configured (slack.signingSecret)\n"
        refusal = self._check_stamp(headers, now)
        if refusal is None:
            return None
        log.warning("refused a Slack interaction: %s", refusal)
        return 401, (refusal + "\n").encode()

    def _check_stamp(self, headers: Mapping[str, str], now: float) -> str | None:
        """Why the request's signature headers cannot be from Slack now (missing, or a
        timestamp outside the replay window), or None."""
        lowered = {k.lower(): v for k, v in headers.items()}
        stamp, signature = (
            lowered.get("x-slack-request-timestamp"),
            lowered.get("x-slack-signature"),
        )
        if not stamp or not signature:
            return "missing X-Slack-Signature or X-Slack-Request-Timestamp"
        if not ascii_digits(stamp, 12):
            return "X-Slack-Request-Timestamp is not an integer of seconds"
        sent_at = int(stamp)
        if abs(now - sent_at) > self.replay_window:
            return f"request timestamp is {now - sent_at:.0f} s off, outside the replay window"
        return None

    def _verify(self, body: bytes, headers: Mapping[str, str], now: float) -> str | None:
        """Why the request is not from Slack (or is a replay), or None if it is."""
        assert self._verifier is not None
        refusal = self._check_stamp(headers, now)
        if refusal is not None:
            return refusal
        lowered = {k.lower(): v for k, v in headers.items()}
        stamp, signature = (
            lowered["x-slack-request-timestamp"],
            lowered["x-slack-signature"],
        )
        try:
            expected = self._verifier.generate_signature(timestamp=stamp, body=body)
        except UnicodeDecodeError:
            return "request body is not UTF-8"
        if expected is None or not hmac.compare_digest(expected, signature):
            return "signature does not match slack.signingSecret"
        return None

    # -------------------------------------------------------- Socket Mode
    def handle_socket_request(self, client: Any, request: SocketModeRequest) -> None:
        """A Socket Mode envelope: acknowledge (always, within ``ack_wait`` seconds) and
        record the click on the click worker, as the HTTP path does: the acknowledgement
        waits for the click's write up to ``ack_wait`` seconds.

        The acknowledgement tells Slack all went well, so a click that could not be
        recorded (the ledger away, the click queue full) is told so by a reply only the
        clicker sees."""
        click: Click | None = None
        queued = False
        try:
            if request.type == "interactive" and isinstance(request.payload, Mapping):
                click = parse_click(request.payload)
            if click is not None:  # queued before the acknowledgement, which waits for
                # its write up to ``ack_wait`` seconds, as over HTTP
                pending = PendingClick(request.payload, click, self.clock(), "Socket Mode")
                queued = self.clicks.offer(pending)
                if queued:
                    pending.done.wait(self.ack_wait)
        except MalformedInteractionError as exc:
            log.warning("ignored a malformed Socket Mode interaction: %s", exc)
        finally:
            client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        if click is not None and not queued:
            why = self._why_not_taken()
            log.warning(
                "a Slack click over Socket Mode by %s was not recorded: %s", click.user_id, why
            )
            self._tell(
                click, f"Your click was not recorded: {why}. Nothing changed; {_again(click)}"
            )

    # ------------------------------------------------------- the click worker
    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every click acknowledged so far is recorded or given up on."""
        return self.clicks.drain(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking clicks; record those queued for up to ``timeout`` seconds, and say
        the rest, to the clickers and in the log (on shutdown, before the approvals
        worker that carries the replies stops)."""
        for left in self.clicks.stop(timeout):
            log.warning(
                "a Slack click by %s (%s, received over %s) was not recorded: Autonomic "
                "stopped first",
                left.click.user_id,
                _clicked(left.click),
                left.via,
            )
            self._tell(
                left.click,
                f"Your click was not recorded: Autonomic was stopping. Nothing changed; "
                f"{_again(left.click)}",
            )

    def _record(self, pending: PendingClick) -> None:
        """Record one acknowledged click: ``receive``, tried again while the ledger fails
        for a while; given up on, the clicker is told and the log says so."""
        click, started = pending.click, time.monotonic()
        failure: AutonomicError | None = None
        attempt = 0
        for attempt in range(1, self.record_attempts + 1):
            try:
                self.receive(pending.payload, pending.now)
                return
            except TransientError as exc:
                failure = exc
                if attempt == self.record_attempts:
                    break
                pause = self.record_backoff * 2.0 ** (attempt - 1)
                log.info(
                    "a Slack click by %s (%s) is not recorded yet (try %d of %d): %s; "
                    "trying again in %.0f s",
                    click.user_id,
                    _clicked(click),
                    attempt,
                    self.record_attempts,
                    exc,
                    pause,
                )
                if self.clicks.wait(pause):
                    break  # stopping: say it now, while the reply can still go out
            except AutonomicError as exc:  # not something a retry fixes
                failure = exc
                break
        tries = f"{attempt} {'try' if attempt == 1 else 'tries'}"
        took = time.monotonic() - started
        log.warning(
            "a Slack click by %s (%s, received over %s) was not recorded after %s over %.0f s: %s",
            click.user_id,
            _clicked(click),
            pending.via,
            tries,
            took,
            failure,
        )
        self._tell(
            click,
            f"Your click was not recorded ({tries} over {took:.0f} s): {failure}. Nothing "
            f"changed; {_again(click)}",
        )

    def start_socket_mode(self) -> None:
        """Connect and listen (call on the leader only; idempotent)."""
        if self._app_token is None:
            raise ConfigError("Socket Mode needs slack.appToken")
        with self._socket_lock:
            if self._socket is not None:
                return
            web = WebClient(base_url=self._socket_base_url) if self._socket_base_url else None
            client = _socket_mode_client(
                self._app_token.get_secret_value(), web, self.socket_ping_interval
            )
            client.message_listeners.append(_acknowledge_unrouted)
            client.socket_mode_request_listeners.append(self.handle_socket_request)
            try:
                client.connect()
            except SlackApiError as exc:
                client.close()
                code = exc.response.get("error") if isinstance(exc.response.data, dict) else None
                if exc.response.status_code == 200 and code != "ratelimited":
                    raise PermanentError(
                        f"Slack refused apps.connections.open: {code} (check slack.appToken: "
                        "an app-level token with connections:write)",
                        reason=f"Slack:{code}",
                    ) from exc
                raise TransientError(
                    f"Slack failed apps.connections.open (HTTP {exc.response.status_code})",
                    reason="SlackUnavailable",
                ) from exc
            except Exception as exc:
                client.close()
                raise TransientError(
                    f"could not open a Slack Socket Mode connection: {type(exc).__name__}",
                    reason="SlackUnreachable",
                ) from exc
            self._socket = client

    def stop_socket_mode(self) -> None:
        """Disconnect (on losing leadership, on shutdown); idempotent."""
        with self._socket_lock:
            client, self._socket = self._socket, None
        if client is None:
            return
        closer = threading.Thread(target=client.close, name="autonomic-slack-close", daemon=True)
        closer.start()
        closer.join(self.socket_close_wait)
        if closer.is_alive():
            log.warning(
                "Slack Socket Mode: the client had not closed after %g s; its threads are "
                "left to end in the background (it no longer reconnects)",
                self.socket_close_wait,
            )

    @property
    def listening(self) -> bool:
        return self._socket is not None

    def socket_state(self) -> SocketState | None:
        """The Socket Mode connection's state; None while not listening."""
        client = self._socket
        if client is None:
            return None
        state: SocketState = client.socket_state()
        return state

    # ------------------------------------------------------------- shared
    def receive(self, payload: Mapping[str, Any], now: float) -> AnswerOutcome | None:
        """One interaction payload -> at most one ledger compare-and-set; None if not ours."""
        click = parse_click(payload)
        if click is None:
            return None
        if isinstance(click, (VerdictClick, UndoClick)):
            elsewhere = self._button_elsewhere(click, payload)
            if elsewhere is not None:
                log.warning(
                    "refused a Slack %s click on decision %s by %s: %s",
                    "verdict" if isinstance(click, VerdictClick) else "Undo",
                    click.decision_id,
                    click.user_id,
                    elsewhere,
                )
                self._tell(click, f"This click was not taken: {elsewhere}. Nothing changed.")
                return AnswerOutcome(False, "WrongChannel", elsewhere)
        if isinstance(click, VerdictClick):  # an escalation's: slack.approvers alone
            allowed, why = self.approvers.check(click.user_id, now)
            return self._verdict(click, allowed, why, now)
        if isinstance(click, UndoClick):
            return self._undo(click, now)
        elsewhere = self._posted_elsewhere(click.question_id, payload)
        if elsewhere is not None:
            log.warning(
                "refused a Slack answer %s to question %s by %s: %s",
                click.answer,
                click.question_id,
                click.user_id,
                elsewhere,
            )
            self._tell(click, f"This click was not taken: {elsewhere}. Nothing changed.")
            return AnswerOutcome(False, "WrongChannel", elsewhere)
        lists = self.who_may_answer(click.question_id)
        allowed, why = self.approvers.check(click.user_id, now, lists)
        if not allowed:
            self.approvals.refuse(click.question_id, click.user_id, why, now, via="slack")
            self._tell(
                click,
                f"You cannot answer this question: {why}.",
                f"Who may answer: {who_may_answer(lists)}.",
            )
            return AnswerOutcome(False, "NotApprover", why)
        outcome = self.approvals.answer(
            click.question_id,
            click.answer,
            click.user_id,
            now,
            via="slack",
            click_id=f"{click.user_id}@{click.action_ts}" if click.action_ts else None,
        )
        log.info(
            "Slack answer %s to question %s by %s: %s",
            click.answer,
            click.question_id,
            click.user_id,
            outcome.code,
        )
        if not outcome.accepted and outcome.code not in ("Duplicate", "Stale"):
            # A redelivered click (Slack retries) is not news to the person who clicked.
            self._tell(click, outcome.message[:1].upper() + outcome.message[1:] + ".")
        return outcome

    def _posted_elsewhere(self, question_id: str, payload: Mapping[str, Any]) -> str | None:
        """Why a click on this question cannot be on its message, or None. A question
        posted to Slack is answered from the channel it was posted in (the ledger keeps
        its channel and message ts): a payload whose ``channel.id`` or
        ``container.channel_id`` names another channel, or none, is not a click on it
        (a button copied elsewhere, a forged payload). A question never posted to Slack
        has no channel to hold the click to."""
        question = self.approvals.ledger.question(question_id)
        refs = [question.message_ref] if question is not None else []
        return _clicked_elsewhere(f"question {question_id}", refs, payload)

    def _button_elsewhere(
        self, click: VerdictClick | UndoClick, payload: Mapping[str, Any]
    ) -> str | None:
        """Why an escalation's verdict button, or an Undo button, cannot be on a message
        of its decision's, or None: as ``_posted_elsewhere`` for a question. An
        escalation's message is kept in its ``escalation`` feedback row (``ref``); an
        Undo button is posted in the thread of the decision's question or of its report
        (a ``report`` row's ``ref``), so in that message's channel. A decision with no
        such message in Slack is not checked."""
        ledger = self.approvals.ledger
        if isinstance(click, VerdictClick):
            kinds, what = ("escalation",), f"the escalation of decision {click.decision_id}"
            refs = []
        else:
            kinds, what = ("report",), f"the Undo button of decision {click.decision_id}"
            refs = [q.message_ref for q in ledger.questions_for([click.decision_id])]
        refs += [
            ref
            for row in ledger.feedback_for(click.decision_id)
            if row["kind"] in kinds and isinstance(ref := (row.get("detail") or {}).get("ref"), str)
        ]
        return _clicked_elsewhere(what, refs, payload)

    def who_may_answer(self, question_id: str) -> list[dict[str, Any]]:
        """The lists an answer to this question must come from: ``slack.approvers``, the
        subject's namespace's and the runbook's (the rule as configured now, with the
        runbook's list as recorded when the question was asked)."""
        ledger = self.approvals.ledger
        question = ledger.question(question_id)
        decision = ledger.get_decision(question.decision_id) if question is not None else None
        if decision is None:  # refused or answered "unknown question" all the same
            return self.approvers.rule.lists("", {})
        return self.approvers.rule.lists(decision.subject, decision.evidence)

    def _verdict(self, click: VerdictClick, allowed: bool, why: str, now: float) -> AnswerOutcome:
        """An escalation's hindsight button: only approvers may judge, once each."""
        if not allowed:
            self._tell(click, f"You cannot judge this decision: {why}.")
            return AnswerOutcome(False, "NotApprover", why)
        outcome = self.approvals.judge(
            click.decision_id, right=click.right, actor=click.user_id, now=now, via="slack"
        )
        log.info(
            "Slack verdict on decision %s by %s: %s", click.decision_id, click.user_id, outcome.code
        )
        if outcome.code == "Duplicate":
            return outcome  # a redelivered click, or the same verdict twice: nothing new
        self._tell(click, outcome.message[:1].upper() + outcome.message[1:] + ".")
        channel = self.channel
        if outcome.accepted and channel is not None and click.channel_id and click.message_ts:
            ref = f"{SLACK_REF}{click.channel_id}:{click.message_ts}"
            said = "was the fix" if click.right else "was not the fix"
            text = f"{click.user_name} says what Autonomic proposed {said}."
            record = self.approvals.ledger.get_decision(click.decision_id)
            hold = record and hindsight_hold(record, click.right, self.approvals.reask_after_reject)
            if hold:
                text += f" {hold[:1].upper()}{hold[1:]}."

            def note() -> None:
                try:
                    channel.note(ref, text)
                except (TransientError, PermanentError) as exc:
                    log.warning("could not note the verdict in Slack: %s", exc)

            self.approvals.dispatcher.submit(note)
        return outcome

    def _undo(self, click: UndoClick, now: float) -> AnswerOutcome:
        """The Undo button: the checks of ``autonomic undo`` (``agent.undo.request``: only
        an undoable action, once, by compare-and-set on the decision's status), by
        someone who may approve this decision's actions (the lists a question about it
        must be answered from). Who pressed it is recorded with the request, and the
        button's message says who and when, then (the leader's cycle) how it ended."""
        ledger = self.approvals.ledger
        record = ledger.get_decision(click.decision_id)
        if record is None:
            why = f"there is no decision {click.decision_id} in the ledger"
            self._tell(click, f"You cannot undo this: {why}.")
            return AnswerOutcome(False, "UnknownDecision", why)
        lists = self.approvers.rule.lists(record.subject, record.evidence)
        allowed, why = self.approvers.check(click.user_id, now, lists)
        if not allowed:
            self._tell(
                click,
                f"You cannot undo this action: {why}.",
                f"Who may: {who_may_answer(lists)}.",
            )
            return AnswerOutcome(False, "NotApprover", why)
        ref = (
            f"{SLACK_REF}{click.channel_id}:{click.message_ts}"
            if click.channel_id and click.message_ts
            else None
        )
        try:
            request(
                ledger,
                record,
                actor=click.user_id,
                reason=None,
                at=now,
                ttl=self.undo_ttl,
                via="slack",
                extra={"user_name": click.user_name, "message_ref": ref},
            )
        except InputError as exc:
            asked = latest_request(ledger, record.id)
            if (
                asked is not None
                and asked["actor"] == click.user_id
                and (asked.get("detail") or {}).get("message_ref") == ref
                and ledger.get_decision(record.id).status == "undo-requested"  # type: ignore[union-attr]
            ):
                return AnswerOutcome(False, "Duplicate", "you asked already")  # a retry
            self._tell(click, f"Not undone: {exc}.")
            return AnswerOutcome(False, "NotUndoable", str(exc))
        log.info("Slack undo of decision %s requested by %s", record.id, click.user_id)
        rest = (
            "; the daemon's leader carries it out at its next remediation cycle, unless "
            f"someone changed {record.subject} since. The decision is recorded as wrong."
        )
        text = f"Undo requested by {click.user_name} at {to_utc_text(now)}{rest}"
        mrkdwn = f"Undo requested by <@{click.user_id}> at {slack_date(now)}{escape(rest)}"
        channel = self.channel
        if channel is not None and ref is not None:
            shown, decision_id, user = ref, record.id, click.user_id

            def update() -> None:
                # The leader rewrites the same message with how the undo ended, maybe
                # before this runs: "requested" only while the ledger says the request
                # waits, and, read again after that write, its outcome if it ended
                # meanwhile (the leader's write then came first), so the outcome is last.
                try:
                    mine = _request_row(ledger, decision_id, user, shown, now)
                    said = None if mine is None else ended(ledger, decision_id, mine)
                    if said is None:
                        channel.rewrite(shown, text, mrkdwn=mrkdwn)
                        said = None if mine is None else ended(ledger, decision_id, mine)
                    if said is not None:
                        channel.rewrite(shown, said)
                except (TransientError, PermanentError) as exc:
                    log.warning("could not update the Undo message %s in Slack: %s", shown, exc)

            self.approvals.dispatcher.submit(update)
        return AnswerOutcome(True, "Requested", "undo requested")

    def _tell(self, click: Click, text: str, mrkdwn: str = "") -> None:
        """An ephemeral reply: ``text`` escaped, then ``mrkdwn`` (mentions) as written."""
        channel = self.channel
        if channel is None or click.channel_id is None:
            return
        where = click.channel_id

        def send() -> None:
            try:
                channel.tell(where, click.user_id, text, mrkdwn)
            except (TransientError, PermanentError) as exc:
                log.warning("could not reply to %s in Slack: %s", click.user_id, exc)

        self.approvals.dispatcher.submit(send)


def _clicked(click: Click) -> str:
    """What was clicked, for a log line: "approved on question 0a1b2c3d4e5f"."""
    if isinstance(click, ButtonClick):
        return f"{click.answer} on question {short_id(click.question_id)}"
    if isinstance(click, VerdictClick):
        said = "was" if click.right else "was not"
        return f"{said} the fix, on decision {short_id(click.decision_id)}"
    return f"undo of decision {short_id(click.decision_id)}"


def _again(click: Click) -> str:
    """What the clicker can do about a click that was not recorded."""
    if isinstance(click, ButtonClick) and click.answer in ("approved", "rejected"):
        verb = "approve" if click.answer == "approved" else "reject"
        return (
            f"click again in a minute, or answer with 'autonomic approvals {verb} "
            f"{click.question_id}'."
        )
    if isinstance(click, UndoClick):
        return f"click again in a minute, or run 'autonomic undo {click.decision_id}'."
    return "click again in a minute."


def _request_row(ledger: Ledger, decision_id: str, actor: str, ref: str, at: float) -> int | None:
    """The id of the undo request ``actor`` recorded at ``at`` from the message ``ref``."""
    for row in reversed(ledger.feedback_for(decision_id)):
        detail = row.get("detail") or {}
        if (
            row["kind"] == REQUEST_KIND
            and row["actor"] == actor
            and detail.get("message_ref") == ref
            and float(row["created_at"]) == at
        ):
            return int(row["id"])
    return None


def _form_payload(body: bytes) -> dict[str, Any]:
    """``payload=<urlencoded JSON>`` -> the JSON object."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedInteractionError("the body is not a URL-encoded form") from exc
    values = form.get("payload")
    if not values or len(values) != 1:
        raise MalformedInteractionError("expected exactly one 'payload' field")
    try:
        payload = json.loads(values[0])
    except (ValueError, RecursionError) as exc:  # bad JSON, huge numbers, deep nesting
        raise MalformedInteractionError("'payload' is not JSON") from exc
    if not isinstance(payload, dict):
        raise MalformedInteractionError("'payload' is not a JSON object")
    return payload


# ---------------------------------------------------------------------- composition
def build_approvals(
    settings: SlackSettings,
    environ: Mapping[str, str],
    ledger: Ledger,
    *,
    clock: Callable[[], float] = time.time,
    on_answer: AnswerHook | None = None,
    snooze: float | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cluster: str | None = None,
    undo_ttl: float = DEFAULT_UNDO_TTL,
    on_failure: Callable[[str, str], None] | None = None,
    reask_after_reject: float | None = DEFAULT_REASK_AFTER_REJECT,
    access: AccessCheck | None = None,
) -> tuple[Approvals, SlackReceiver | None]:
    """The approvals service for these settings: Slack backed by the ledger, or the ledger.

    Without Slack the receiver is None and questions are answered from the CLI.
    ``on_failure(method, reason)`` hears of every Slack Web API call that failed.
    ``reask_after_reject`` (``safety.reaskAfterReject``) is how long a hindsight "It was
    not" holds its incident, told to whoever clicks it. ``access``
    (``slack.requireKubernetesAccess``): checked before an approval is taken, from Slack
    or the ledger's other answerers alike.
    """
    ledger_only = LedgerOnlyChannel(ledger, clock)
    snooze = settings.snooze if snooze is None else snooze
    if not settings.enabled:
        approvals = Approvals(
            ledger,
            ledger_only,
            ttl=settings.question_ttl,
            snooze=snooze,
            on_answer=on_answer,
            clock=clock,
            reask_after_reject=reask_after_reject,
            access=access,
        )
        return approvals, None
    token = resolve_secret(settings.bot_token, environ)
    if token is None or settings.channel is None:
        raise ConfigError("slack is enabled but slack.botToken or slack.channel is not set")
    api = SlackApi.connect(
        token, base_url=settings.base_url, policy=policy, sleep=sleep, on_failure=on_failure
    )
    slack = SlackChannel(
        api, settings.channel, oncall_group=settings.oncall_group, cluster=cluster, clock=clock
    )
    approvers = Approvers(settings.approvers, api, by_namespace=settings.approvers_by_namespace)
    approvals = Approvals(
        ledger,
        FallbackChannel(slack, ledger_only),
        ttl=settings.question_ttl,
        snooze=snooze,
        on_answer=on_answer,
        rule=approvers.rule,
        clock=clock,
        reask_after_reject=reask_after_reject,
        access=access,
    )
    receiver = SlackReceiver(
        approvals,
        approvers,
        signing_secret=resolve_secret(settings.signing_secret, environ),
        replay_window=settings.replay_window,
        channel=slack,
        app_token=resolve_secret(settings.app_token, environ),
        socket_base_url=settings.base_url,
        clock=clock,
        undo_ttl=undo_ttl,
    )
    return approvals, receiver

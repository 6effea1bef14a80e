"""Alert notifiers: Python callbacks, logging, JSON webhooks and Prometheus Alertmanager's v2 API."""

from __future__ import annotations

import inspect
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._util.http import HttpError, expect_success, request
from .._util.json import strict_dumps
from .._util.redact import basic_auth, guard_logs, split_credentials
from .model import Alert, AlertState

if TYPE_CHECKING:
    import asyncio

__all__ = ["AlertmanagerNotifier", "CallbackNotifier", "LoggingNotifier", "Notifier", "WebhookNotifier"]


class Notifier(ABC):
    """Receives alerts when they fire (again, with ``repeat_interval``) and when they resolve."""

    name: str = "notifier"

    @abstractmethod
    def notify(self, alert: Alert) -> None:
        """Deliver ``alert``; raise on failure (the evaluator counts it and carries on)."""

    async def anotify(self, alert: Alert) -> None:
        """Async delivery; blocking notifiers run in a worker thread, off the event loop."""
        import asyncio  # only here: importing rfs_otel does not import asyncio

        await asyncio.to_thread(self.notify, alert)


class CallbackNotifier(Notifier):
    """Calls ``callback(alert)``; the callback may be a plain function or a coroutine function."""

    def __init__(self, callback: Callable[[Alert], Any], name: str | None = None) -> None:
        if not callable(callback):
            raise TypeError(f"CallbackNotifier needs a callable, got {callback!r}")
        self.callback = callback
        self.name = name or str(getattr(callback, "__qualname__", "callback"))

    def notify(self, alert: Alert) -> None:
        result = self.callback(alert)
        if inspect.isawaitable(result):
            # Only here: a plain callback's first alert (in the alert loop's thread) imports nothing that a fork
            # at that moment could leave half imported in the child.
            import asyncio

            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                asyncio.run(_await(result))
            else:  # called synchronously from inside a running loop: let the loop run it
                task = loop.create_task(_await(result))
                _background.add(task)
                task.add_done_callback(_background.discard)

    async def anotify(self, alert: Alert) -> None:
        result = self.callback(alert)
        if inspect.isawaitable(result):
            await result


_background: set[asyncio.Task[None]] = set()


async def _await(awaitable: Any) -> None:
    await awaitable


class LoggingNotifier(Notifier):
    """Logs each alert transition (firing at ``level``, resolved at INFO)."""

    name = "logging"

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.WARNING) -> None:
        self.logger = logger or logging.getLogger("rfs_otel.alerts")
        self.level = level

    def notify(self, alert: Alert) -> None:
        level = self.level if alert.state is AlertState.FIRING else logging.INFO
        self.logger.log(
            level,
            "alert %s %s: value=%s %s",
            alert.name,
            alert.state.value,
            alert.value,
            alert.annotations.get("summary", ""),
        )

    async def anotify(self, alert: Alert) -> None:
        self.notify(alert)


def _post_json(
    url: str, payload: Any, timeout: float, headers: Mapping[str, str], auth: tuple[str, str] | None
) -> None:
    """POST ``payload`` as JSON within one ``timeout`` deadline; a redirect is a failure, never followed."""
    sent = {"Content-Type": "application/json", **headers}
    if auth is not None:
        sent["Authorization"] = basic_auth(auth)
    answer = request("POST", url, timeout=timeout, body=strict_dumps(payload).encode(), headers=sent)
    expect_success("POST", url, answer)


class _HttpNotifier(Notifier):
    def __init__(
        self, url: str, timeout: float, retries: int, backoff: float, headers: Mapping[str, str] | None
    ) -> None:
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"{type(self).__name__} timeout must be a positive number, got {timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"{type(self).__name__} retries must be an int >= 0, got {retries!r}")
        self.url, self._auth = split_credentials(url)
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = float(backoff)
        self._headers = dict(headers or {})
        guard_logs([*self._headers.values(), *(self._auth or ())])

    def _send(self, payload: Any) -> None:
        attempt = 0
        while True:
            try:
                _post_json(self.url, payload, self.timeout, self._headers, self._auth)
                return
            except HttpError as exc:
                if attempt >= self.retries or exc.kind == "redirect":
                    raise ConnectionError(f"POST {self.url} failed after {attempt + 1} attempt(s): {exc}") from None
                time.sleep(self.backoff * (2**attempt))
                attempt += 1

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


class WebhookNotifier(_HttpNotifier):
    """POSTs each alert as JSON (``Alert.to_dict()``), with a timeout and retries with exponential backoff."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        timeout: float = 5,
        retries: int = 2,
        backoff: float = 0.5,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(url, timeout, retries, backoff, headers)

    def notify(self, alert: Alert) -> None:
        self._send(alert.to_dict())


class AlertmanagerNotifier(_HttpNotifier):
    """Sends alerts to a Prometheus Alertmanager through ``POST /api/v2/alerts``.

    Firing alerts carry ``startsAt`` (and an ``endsAt`` of now + ``resolve_timeout`` so a silent process
    does not leave them firing forever); resolved ones carry ``endsAt`` = the resolution time.
    """

    name = "alertmanager"

    def __init__(
        self,
        url: str,
        timeout: float = 5,
        retries: int = 2,
        backoff: float = 0.5,
        generator_url: str = "",
        resolve_timeout: float = 300,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(url.rstrip("/") + "/api/v2/alerts", timeout, retries, backoff, headers)
        self.generator_url = generator_url
        self.resolve_timeout = resolve_timeout

    def payload(self, alert: Alert) -> list[dict[str, Any]]:
        """The v2 API body for one alert."""
        item: dict[str, Any] = {
            "labels": {"alertname": alert.name, **alert.labels},
            "annotations": dict(alert.annotations),
            "startsAt": _rfc3339(alert.started_at or time.time()),
            "generatorURL": self.generator_url,
        }
        if alert.ended_at is not None:
            item["endsAt"] = _rfc3339(alert.ended_at)
        else:
            item["endsAt"] = _rfc3339(time.time() + self.resolve_timeout)
        return [item]

    def notify(self, alert: Alert) -> None:
        self._send(self.payload(alert))


def _rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int((seconds % 1) * 1000):03d}Z"

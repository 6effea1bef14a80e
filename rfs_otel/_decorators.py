"""``@PerformanceMonitored``: call timing, call and error counts for any callable, on OTel hooks.

Series are resolved once per collector (at the first call, again only if the default collector
is replaced), so a decorated call costs two clock reads, one observe and one increment. Inside
OpenTelemetry's ``suppress_instrumentation()`` or after ``RfsOtelInstrumentor().uninstrument()``
nothing is recorded. With ``trace=True`` each call runs in a span and its timing carries an exemplar.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import Any, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace

from ._collector import MetricsCollector
from ._default import get_metrics_collector
from ._engine.series import Counter, Gauge, Histogram
from ._model.validation import check_labels, check_name
from ._result import Failure

__all__ = [
    "CounterMetric",
    "PerformanceMonitored",
    "TimingMetric",
    "set_default_tracer_provider",
    "set_recording_enabled",
]

F = TypeVar("F", bound=Callable[..., Any])

_SUPPRESS_KEY = otel_context._SUPPRESS_INSTRUMENTATION_KEY
_SUPPRESS_KEY_PLAIN = "suppress_instrumentation"

#: Flipped by ``RfsOtelInstrumentor.instrument()/uninstrument()``; recording is on by default.
_recording = [True]


def set_recording_enabled(enabled: bool) -> None:
    """Turn recording of every ``@PerformanceMonitored`` function on or off (the instrumentor's switch)."""
    _recording[0] = bool(enabled)


#: The TracerProvider of decorators given none (None: the global one); set by ``RfsOtelInstrumentor``.
_tracer_provider: list[trace.TracerProvider | None] = [None]


def set_default_tracer_provider(provider: trace.TracerProvider | None) -> None:
    """The TracerProvider the spans of decorators given no ``tracer_provider=`` use (None: the global one)."""
    _tracer_provider[0] = provider


get_current = otel_context.get_current


def _suppressed() -> bool:
    current = get_current()  # one context lookup for both keys (this runs on every decorated call)
    return bool(current.get(_SUPPRESS_KEY) or current.get(_SUPPRESS_KEY_PLAIN))


@dataclass(frozen=True)
class TimingMetric:
    """The histogram a decorated call's duration (seconds) is observed in."""

    name: str
    buckets: Iterable[float] | None = None
    description: str = ""


@dataclass(frozen=True)
class CounterMetric:
    """A counter incremented per call (or per failed call, as ``error_counter``)."""

    name: str
    description: str = ""


class _Series:
    """The series one decorated function records into, for one collector."""

    __slots__ = ("calls", "collector", "error_family", "errors", "inprogress", "timing")

    def __init__(self, monitor: PerformanceMonitored, collector: MetricsCollector) -> None:
        labels = monitor.labels
        self.collector = collector
        self.timing: Histogram | None = None
        self.calls: Counter | None = None
        self.inprogress: Gauge | None = None
        self.errors: dict[str, Counter] = {}
        self.error_family = monitor.error_counter
        if monitor.timing_metric is not None:
            t = monitor.timing_metric
            self.timing = collector.histogram(
                t.name, buckets=t.buckets, description=t.description or "Call duration", labels=labels, unit="s"
            )
        if monitor.counter_metric is not None:
            c = monitor.counter_metric
            self.calls = collector.counter(c.name, description=c.description or "Calls", labels=labels)
        if monitor.track_inprogress:
            self.inprogress = collector.gauge(monitor.inprogress_name, "Calls in progress", labels=labels)

    def error(self, error_type: str, labels: Mapping[str, str]) -> None:
        family = self.error_family
        if family is None:
            return
        counter = self.errors.get(error_type)
        if counter is None:
            counter = self.collector.counter(
                family.name,
                description=family.description or "Failed calls",
                labels={**labels, "error_type": error_type},
            )
            self.errors[error_type] = counter
        counter.increment()


def _default_base(func: Callable[..., Any]) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", func.__qualname__).strip("_") or "function"


class PerformanceMonitored:
    """Decorator recording timing, calls and errors of a function (sync, async, generator, async generator).

    An exception counts as an error (label ``error_type`` = its class name) and is re-raised
    unchanged; a returned ``Failure`` counts as an error with ``error_type="Failure"``. Without
    any metric given, ``function_duration_seconds``, ``function_calls_total`` and
    ``function_errors_total`` with a ``function`` label are used. ``@PerformanceMonitored`` without
    parentheses is the same as ``@PerformanceMonitored()`` at run time (type checkers know only the form with
    parentheses).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        bare = len(args) == 1 and not kwargs and callable(args[0])
        if bare and not isinstance(args[0], (TimingMetric, CounterMetric)):
            return cls()(args[0])  # used as @PerformanceMonitored, without parentheses
        return super().__new__(cls)

    def __init__(
        self,
        timing_metric: TimingMetric | None = None,
        counter_metric: CounterMetric | None = None,
        error_counter: CounterMetric | None = None,
        labels: Mapping[str, str] | None = None,
        collector: MetricsCollector | None = None,
        trace: bool = False,
        *,
        track_inprogress: bool = False,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        for metric in (timing_metric, counter_metric, error_counter):
            if metric is not None and not isinstance(metric, (TimingMetric, CounterMetric)):
                raise TypeError(f"PerformanceMonitored takes TimingMetric/CounterMetric objects, got {metric!r}")
            if metric is not None:
                check_name(metric.name, "metric")
        self.timing_metric = timing_metric
        self.counter_metric = counter_metric
        self.error_counter = error_counter
        self.labels = dict(check_labels("PerformanceMonitored", labels))
        self.collector = collector
        self.trace = trace
        self.track_inprogress = track_inprogress
        self.inprogress_name = ""
        self._tracer_provider = tracer_provider
        self._defaults = timing_metric is None and counter_metric is None and error_counter is None

    def __call__(self, func: F) -> F:
        if not callable(func):
            raise TypeError(f"@PerformanceMonitored decorates a callable, got {func!r}")
        if self._defaults:
            self.timing_metric = TimingMetric("function_duration_seconds")
            self.counter_metric = CounterMetric("function_calls_total")
            self.error_counter = CounterMetric("function_errors_total")
            self.labels = {**self.labels, "function": func.__qualname__}
        base = self.timing_metric.name if self.timing_metric else _default_base(func)
        self.inprogress_name = f"{base.removesuffix('_seconds')}_inprogress"
        if self.collector is not None:
            _Series(self, self.collector)  # fail at decoration time on conflicting definitions
        recorder = _Recorder(self, func)
        if inspect.isasyncgenfunction(func):
            return cast(F, recorder.wrap_async_generator(func))
        if inspect.iscoroutinefunction(func):
            return cast(F, recorder.wrap_coroutine(func))
        if inspect.isgeneratorfunction(func):
            return cast(F, recorder.wrap_generator(func))
        return cast(F, recorder.wrap_function(func))


class _Recorder:
    """Per decorated function: resolves series and records one call's outcome."""

    __slots__ = ("_labels", "_monitor", "_series", "_span_name", "_tracer", "_tracer_for")

    def __init__(self, monitor: PerformanceMonitored, func: Callable[..., Any]) -> None:
        self._monitor = monitor
        self._labels = monitor.labels
        self._series: _Series | None = None
        self._span_name = func.__qualname__
        self._tracer: trace.Tracer | None = None
        self._tracer_for: trace.TracerProvider | None = None

    def series(self) -> _Series:
        collector = self._monitor.collector or get_metrics_collector()
        series = self._series
        if series is None or series.collector is not collector:
            series = self._series = _Series(self._monitor, collector)
        return series

    def tracer(self) -> trace.Tracer:
        provider = self._monitor._tracer_provider or _tracer_provider[0]
        if self._tracer is None or self._tracer_for is not provider:
            self._tracer = trace.get_tracer("rfs_otel", tracer_provider=provider)
            self._tracer_for = provider
        return self._tracer

    def done(self, series: _Series, elapsed: float, error: str | None, span: trace.Span | None) -> None:
        if series.timing is not None:
            if span is not None and span.get_span_context().is_valid:
                ctx = span.get_span_context()
                series.timing.observe_with_exemplar(elapsed, ctx.trace_id, ctx.span_id)
            else:
                series.timing.observe(elapsed)
        if series.calls is not None:
            series.calls.increment()
        if error is not None:
            series.error(error, self._labels)
            if span is not None:
                span.set_status(trace.Status(trace.StatusCode.ERROR, error))

    def _active(self) -> bool:
        return _recording[0] and not _suppressed()

    # -- wrappers -----------------------------------------------------------------------------

    def wrap_function(self, func: Callable[..., Any]) -> Callable[..., Any]:
        recorder = self

        monitor = self._monitor

        @functools.wraps(func)
        def monitored(*args: Any, **kwargs: Any) -> Any:
            current = get_current()  # _suppressed() inline: this runs on every call
            if not _recording[0] or current.get(_SUPPRESS_KEY) or current.get(_SUPPRESS_KEY_PLAIN):
                return func(*args, **kwargs)
            if monitor.trace:
                with recorder.tracer().start_as_current_span(recorder._span_name) as span:
                    return recorder._call(func, args, kwargs, span)
            series = recorder._series
            if series is None or series.collector is not (monitor.collector or get_metrics_collector()):
                series = recorder.series()
            if series.inprogress is not None:
                return recorder._call(func, args, kwargs, None)
            start = perf_counter()  # the common case inline: time, observe, count (errors as in _call)
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                recorder.done(series, perf_counter() - start, type(exc).__name__, None)
                raise
            elapsed = perf_counter() - start
            if result.__class__ is Failure:  # Failure is final
                recorder.done(series, elapsed, "Failure", None)
                return result
            timing, calls = series.timing, series.calls
            if timing is not None:
                timing.observe(elapsed)
            if calls is not None:
                calls.increment()
            return result

        return monitored

    def _call(self, func: Callable[..., Any], args: Any, kwargs: Any, span: trace.Span | None) -> Any:
        series = self.series()
        if series.inprogress is not None:
            series.inprogress.increment()
        start = perf_counter()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            self.done(series, perf_counter() - start, type(exc).__name__, span)
            raise
        finally:
            if series.inprogress is not None:
                series.inprogress.decrement()
        self.done(series, perf_counter() - start, "Failure" if isinstance(result, Failure) else None, span)
        return result

    def wrap_coroutine(self, func: Callable[..., Any]) -> Callable[..., Any]:
        recorder = self

        @functools.wraps(func)
        async def monitored(*args: Any, **kwargs: Any) -> Any:
            if not recorder._active():
                return await func(*args, **kwargs)
            if recorder._monitor.trace:
                with recorder.tracer().start_as_current_span(recorder._span_name) as span:
                    return await recorder._await(func, args, kwargs, span)
            return await recorder._await(func, args, kwargs, None)

        return monitored

    async def _await(self, func: Callable[..., Any], args: Any, kwargs: Any, span: trace.Span | None) -> Any:
        series = self.series()
        if series.inprogress is not None:
            series.inprogress.increment()
        start = perf_counter()
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            self.done(series, perf_counter() - start, type(exc).__name__, span)
            raise
        finally:
            if series.inprogress is not None:
                series.inprogress.decrement()
        self.done(series, perf_counter() - start, "Failure" if isinstance(result, Failure) else None, span)
        return result

    def wrap_generator(self, func: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        recorder = self

        @functools.wraps(func)
        def monitored(*args: Any, **kwargs: Any) -> Iterator[Any]:
            if not recorder._active():
                return (yield from func(*args, **kwargs))
            series = recorder.series()
            span_cm = recorder.tracer().start_as_current_span(recorder._span_name) if recorder._monitor.trace else None
            span = span_cm.__enter__() if span_cm is not None else None
            if series.inprogress is not None:
                series.inprogress.increment()
            start = perf_counter()
            error: str | None = None
            try:
                return (yield from func(*args, **kwargs))
            except GeneratorExit:
                raise  # the consumer stopped early: not an error
            except BaseException as exc:
                error = type(exc).__name__
                raise
            finally:
                if series.inprogress is not None:
                    series.inprogress.decrement()
                recorder.done(series, perf_counter() - start, error, span)
                if span_cm is not None:
                    span_cm.__exit__(None, None, None)

        return monitored

    def wrap_async_generator(self, func: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        recorder = self

        @functools.wraps(func)
        async def monitored(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            if not recorder._active():
                async for item in func(*args, **kwargs):
                    yield item
                return
            series = recorder.series()
            span_cm = recorder.tracer().start_as_current_span(recorder._span_name) if recorder._monitor.trace else None
            span = span_cm.__enter__() if span_cm is not None else None
            if series.inprogress is not None:
                series.inprogress.increment()
            start = perf_counter()
            error: str | None = None
            agen = func(*args, **kwargs)
            try:
                async for item in agen:
                    yield item
            except GeneratorExit:
                raise
            except BaseException as exc:
                error = type(exc).__name__
                raise
            finally:
                await agen.aclose()  # type: ignore[attr-defined]
                if series.inprogress is not None:
                    series.inprogress.decrement()
                recorder.done(series, perf_counter() - start, error, span)
                if span_cm is not None:
                    span_cm.__exit__(None, None, None)

        return monitored

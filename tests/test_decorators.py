"""@PerformanceMonitored, Timer and the OTel instrumentation hooks."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from rfs_otel import (
    CounterMetric,
    Failure,
    MemoryMetricsStorage,
    MetricsCollector,
    PerformanceMonitored,
    Result,
    Success,
    TimingMetric,
    get_metrics_collector,
)
from rfs_otel.testing import exported_points

from .entry_points import RfsOtelInstrumentor


def _monitor(collector: MetricsCollector, **kwargs: Any) -> PerformanceMonitored:
    return PerformanceMonitored(
        timing_metric=TimingMetric("op_duration_seconds"),
        counter_metric=CounterMetric("op_calls_total"),
        error_counter=CounterMetric("op_errors_total"),
        labels={"service": "test"},
        collector=collector,
        **kwargs,
    )


def _counts(collector: MetricsCollector) -> tuple[int, float, dict[str, float]]:
    timing = collector.histogram("op_duration_seconds", labels={"service": "test"}).get_value()["count"]
    calls = collector.counter("op_calls_total", labels={"service": "test"}).get_value()
    errors = {m.labels["error_type"]: m.value for m in collector.snapshot() if m.name == "op_errors_total"}
    return timing, calls, errors


def test_seed_create_user_example_works_verbatim() -> None:
    """The seed's decorated create_user records time, calls and Failure results as errors."""

    async def save_user_to_db(user_data: dict[str, Any]) -> dict[str, Any]:
        if "email" not in user_data:
            raise KeyError("email")
        return {"id": 1, **user_data}

    @PerformanceMonitored(
        timing_metric=TimingMetric("user_service_create_time"),
        counter_metric=CounterMetric("user_service_create_total"),
        error_counter=CounterMetric("user_service_create_errors"),
        labels={"service": "user", "version": "v1"},
    )
    async def create_user(user_data: dict[str, Any]) -> Result[dict[str, Any], str]:
        try:
            user = await save_user_to_db(user_data)
            return Success(user)
        except Exception as e:
            return Failure(str(e))

    async def run() -> list[Result[dict[str, Any], str]]:
        return [await create_user({"email": "a@b"}), await create_user({}), await create_user({"email": "c@d"})]

    results = asyncio.run(run())
    assert [r.is_success() for r in results] == [True, False, True]
    collector = get_metrics_collector()
    labels = {"service": "user", "version": "v1"}
    assert collector.histogram("user_service_create_time", labels=labels).get_value()["count"] == 3
    assert collector.counter("user_service_create_total", labels=labels).get_value() == 3
    errors = collector.counter("user_service_create_errors", labels={**labels, "error_type": "Failure"})
    assert errors.get_value() == 1


def test_sync_function_is_timed_and_counted(collector: MetricsCollector) -> None:
    """Each call observes a duration and adds one call; no errors."""

    @_monitor(collector)
    def add(a: int, b: int) -> int:
        return a + b

    assert add(2, 3) == 5
    assert add(1, 1) == 2
    assert _counts(collector) == (2, 2, {})


def test_exception_counts_an_error_and_is_reraised_unchanged(collector: MetricsCollector) -> None:
    """An exception: error_type=<class name>, the same exception object propagates."""
    boom = ValueError("boom")

    @_monitor(collector)
    def fail() -> None:
        raise boom

    with pytest.raises(ValueError) as caught:
        fail()
    assert caught.value is boom
    assert _counts(collector) == (1, 1, {"ValueError": 1})


def test_failure_result_counts_as_error(collector: MetricsCollector) -> None:
    """A returned Failure is an error with error_type='Failure' and is returned untouched."""
    failure = Failure("no stock")

    @_monitor(collector)
    def order() -> Result[int, str]:
        return failure

    assert order() is failure
    assert _counts(collector) == (1, 1, {"Failure": 1})


def test_async_function_stays_a_coroutine_function(collector: MetricsCollector) -> None:
    """Decorated coroutine functions remain coroutine functions and are recorded when awaited."""

    @_monitor(collector)
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    assert inspect.iscoroutinefunction(fetch)
    assert asyncio.run(fetch(21)) == 42
    assert _counts(collector) == (1, 1, {})


def test_async_exception_is_counted(collector: MetricsCollector) -> None:
    """An exception raised by a coroutine is counted and propagated."""

    @_monitor(collector)
    async def fetch() -> None:
        raise TimeoutError

    with pytest.raises(TimeoutError):
        asyncio.run(fetch())
    assert _counts(collector)[2] == {"TimeoutError": 1}


def test_generator_timing_covers_the_whole_iteration(collector: MetricsCollector) -> None:
    """A generator is recorded once, when exhausted, with the time of the whole iteration."""

    @_monitor(collector)
    def numbers(n: int) -> Iterator[int]:
        yield from range(n)

    gen = numbers(3)
    assert inspect.isgeneratorfunction(numbers)
    assert _counts(collector) == (0, 0, {})
    assert list(gen) == [0, 1, 2]
    assert _counts(collector) == (1, 1, {})


def test_generator_closed_early_is_not_an_error(collector: MetricsCollector) -> None:
    """Stopping iteration early records the call without an error."""

    @_monitor(collector)
    def endless() -> Iterator[int]:
        i = 0
        while True:
            yield i
            i += 1

    gen = endless()
    next(gen)
    gen.close()
    assert _counts(collector) == (1, 1, {})


def test_async_generator_is_recorded_after_iteration(collector: MetricsCollector) -> None:
    """An async generator stays one and is recorded once its iteration ends."""

    @_monitor(collector)
    async def ticks(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def consume() -> list[int]:
        return [i async for i in ticks(4)]

    assert inspect.isasyncgenfunction(ticks)
    assert asyncio.run(consume()) == [0, 1, 2, 3]
    assert _counts(collector) == (1, 1, {})


def test_async_generator_error_is_counted(collector: MetricsCollector) -> None:
    """An exception inside an async generator is counted with its class name."""

    @_monitor(collector)
    async def broken() -> AsyncIterator[int]:
        yield 1
        raise ConnectionError("lost")

    async def consume() -> None:
        async for _ in broken():
            pass

    with pytest.raises(ConnectionError):
        asyncio.run(consume())
    assert _counts(collector)[2] == {"ConnectionError": 1}


def test_methods_are_monitored(collector: MetricsCollector) -> None:
    """Decorating a method works; self is passed through."""

    class Service:
        def __init__(self) -> None:
            self.factor = 3

        @_monitor(collector)
        def scale(self, x: int) -> int:
            return x * self.factor

    assert Service().scale(2) == 6
    assert _counts(collector) == (1, 1, {})


def test_wraps_keeps_name_doc_and_signature(collector: MetricsCollector) -> None:
    """functools.wraps: __name__, __doc__ and the signature are the function's own."""

    @_monitor(collector)
    def documented(a: int, b: str = "x") -> str:
        """Documented."""
        return b * a

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Documented."
    assert inspect.signature(documented) == inspect.signature(documented.__wrapped__)  # type: ignore[attr-defined]
    assert list(inspect.signature(documented).parameters) == ["a", "b"]


def test_defaults_use_function_metrics_with_a_function_label(collector: MetricsCollector) -> None:
    """@PerformanceMonitored() with no metrics records function_duration_seconds{function=...} etc."""

    @PerformanceMonitored(collector=collector)
    def job() -> int:
        return 1

    job()
    labels = {"function": job.__qualname__}
    assert collector.counter("function_calls_total", labels=labels).get_value() == 1
    assert collector.histogram("function_duration_seconds", labels=labels).get_value()["count"] == 1


def test_decorator_labels_are_on_all_three_series(collector: MetricsCollector) -> None:
    """labels= appear on timing, calls and error series."""

    @_monitor(collector)
    def fail() -> None:
        raise KeyError

    with pytest.raises(KeyError):
        fail()
    names = {m.name: m.labels for m in collector.snapshot()}
    assert names["op_duration_seconds"]["service"] == "test"
    assert names["op_calls_total"]["service"] == "test"
    assert names["op_errors_total"] == {"service": "test", "error_type": "KeyError"}


def test_track_inprogress_counts_running_calls(collector: MetricsCollector) -> None:
    """With track_inprogress=True a gauge shows the calls currently running."""
    seen: list[float] = []

    @_monitor(collector, track_inprogress=True)
    def work() -> None:
        seen.append(collector.gauge("op_duration_inprogress", labels={"service": "test"}).get_value())

    work()
    assert seen == [1]
    assert collector.gauge("op_duration_inprogress", labels={"service": "test"}).get_value() == 0


def test_hundred_concurrent_coroutines_are_all_counted(collector: MetricsCollector) -> None:
    """100 concurrent decorated coroutines: exactly 100 calls, 100 observations, in-progress back to 0."""

    @_monitor(collector, track_inprogress=True)
    async def handler(i: int) -> int:
        await asyncio.sleep(0.001)
        return i

    async def run() -> list[int]:
        return await asyncio.gather(*(handler(i) for i in range(100)))

    assert asyncio.run(run()) == list(range(100))
    assert _counts(collector) == (100, 100, {})
    assert collector.gauge("op_duration_inprogress", labels={"service": "test"}).get_value() == 0


def test_suppress_instrumentation_records_nothing(collector: MetricsCollector) -> None:
    """Inside OTel's suppress_instrumentation() the call runs but nothing is recorded."""

    @_monitor(collector)
    def work() -> int:
        return 7

    with suppress_instrumentation():
        assert work() == 7
    assert _counts(collector) == (0, 0, {})
    work()
    assert _counts(collector) == (1, 1, {})


def test_instrumentor_turns_recording_off_and_on(collector: MetricsCollector) -> None:
    """RfsOtelInstrumentor().uninstrument() stops recording; instrument() resumes it."""

    @_monitor(collector)
    def work() -> None:
        pass

    instrumentor = RfsOtelInstrumentor()
    instrumentor.instrument()
    try:
        work()
        instrumentor.uninstrument()
        work()
        assert _counts(collector) == (1, 1, {})
        instrumentor.instrument()
        work()
        assert _counts(collector) == (2, 2, {})
    finally:
        instrumentor.uninstrument()
        from rfs_otel._decorators import set_recording_enabled  # no public way to undo uninstrument()'s switch

        set_recording_enabled(True)


def test_instrumentor_is_registered_as_an_entry_point() -> None:
    """opentelemetry-instrument finds RfsOtelInstrumentor under opentelemetry_instrumentor."""
    from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

    assert RfsOtelInstrumentor.__name__ == "RfsOtelInstrumentor"
    assert issubclass(RfsOtelInstrumentor, BaseInstrumentor)


def _tracing() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_trace_true_runs_each_call_in_a_span(collector: MetricsCollector) -> None:
    """trace=True: one span per call named after the qualified name."""
    provider, exporter = _tracing()

    @_monitor(collector, trace=True, tracer_provider=provider)
    def traced() -> int:
        return 1

    traced()
    [span] = exporter.get_finished_spans()
    assert span.name == traced.__qualname__
    assert span.status.status_code is StatusCode.UNSET


def test_span_records_exception_and_error_status(collector: MetricsCollector) -> None:
    """An exception sets the span status to ERROR and is recorded as a span event."""
    provider, exporter = _tracing()

    @_monitor(collector, trace=True, tracer_provider=provider)
    def traced() -> None:
        raise RuntimeError("kaput")

    with pytest.raises(RuntimeError):
        traced()
    [span] = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert any(event.name == "exception" for event in span.events)


def test_failure_sets_span_status_to_error(collector: MetricsCollector) -> None:
    """A Failure result marks the span as an error too."""
    provider, exporter = _tracing()

    @_monitor(collector, trace=True, tracer_provider=provider)
    async def traced() -> Result[int, str]:
        return Failure("declined")

    asyncio.run(traced())
    [span] = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "Failure"


def test_timing_carries_an_exemplar_linking_the_span(memory: MemoryMetricsStorage, collector: MetricsCollector) -> None:
    """The exported histogram point has an exemplar with the call's trace_id and span_id."""
    provider, exporter = _tracing()

    @_monitor(collector, trace=True, tracer_provider=provider)
    def traced() -> None:
        pass

    traced()
    [span] = exporter.get_finished_spans()
    [point] = exported_points(memory.collect(), "op_duration_seconds")
    [exemplar] = point.exemplars
    assert (exemplar.trace_id, exemplar.span_id) == (span.context.trace_id, span.context.span_id)
    assert exemplar.value == pytest.approx(point.sum)


def test_timer_context_manager_and_decorator(collector: MetricsCollector) -> None:
    """collector.timer() and histogram.time() observe elapsed seconds as context manager and decorator."""
    with collector.timer("block_seconds") as timer:
        pass
    assert timer.elapsed is not None and timer.elapsed >= 0

    h = collector.histogram("call_seconds")

    @h.time()
    def work() -> int:
        return 3

    @h.time()
    async def awork() -> int:
        return 4

    assert work() == 3
    assert asyncio.run(awork()) == 4
    assert collector.histogram("block_seconds").get_value()["count"] == 1
    assert h.get_value()["count"] == 2


def test_timer_observes_even_when_the_block_raises(collector: MetricsCollector) -> None:
    """The duration is recorded even if the timed block raises."""
    with pytest.raises(ZeroDivisionError), collector.timer("risky_seconds"):
        _ = 1 / 0
    assert collector.histogram("risky_seconds").get_value()["count"] == 1


def test_decorating_a_non_callable_is_a_type_error() -> None:
    """PerformanceMonitored()(42) names the bad value."""
    with pytest.raises(TypeError, match="42"):
        PerformanceMonitored()(42)  # type: ignore[type-var]


def test_bad_metric_name_fails_at_decoration() -> None:
    """An invalid TimingMetric name raises when the decorator is built, not at the first call."""
    from rfs_otel import InvalidMetricNameError

    with pytest.raises(InvalidMetricNameError, match="bad name"):
        PerformanceMonitored(timing_metric=TimingMetric("bad name"))

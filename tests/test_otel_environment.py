"""OTLPStorage follows the SDK's OTEL_METRIC_EXPORT_* variables when its arguments leave them open."""

from __future__ import annotations

import pytest

from rfs_otel import OTLPStorage


def test_export_interval_variable_makes_the_storage_periodic(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_METRIC_EXPORT_INTERVAL (ms) sets the interval of an OTLPStorage() given none."""
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "2500")
    storage = OTLPStorage("http://127.0.0.1:4317", insecure=True)
    assert storage.interval == 2.5
    storage.shutdown()


def test_export_timeout_variable_sets_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_METRIC_EXPORT_TIMEOUT (ms) sets the export deadline of an OTLPStorage() given none."""
    monkeypatch.setenv("OTEL_METRIC_EXPORT_TIMEOUT", "1500")
    storage = OTLPStorage("http://127.0.0.1:4317", insecure=True)
    assert (storage.timeout, storage.interval) == (1.5, None)
    storage.shutdown()


def test_arguments_win_over_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """interval= and timeout= given explicitly are used as given."""
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "2500")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_TIMEOUT", "1500")
    storage = OTLPStorage("http://127.0.0.1:4317", insecure=True, timeout=3, interval=7)
    assert (storage.timeout, storage.interval) == (3.0, 7)
    storage.shutdown()


def test_without_variables_the_defaults_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset variables: synchronous exports with a 10 s deadline, as before."""
    monkeypatch.delenv("OTEL_METRIC_EXPORT_INTERVAL", raising=False)
    monkeypatch.delenv("OTEL_METRIC_EXPORT_TIMEOUT", raising=False)
    storage = OTLPStorage("http://127.0.0.1:4317", insecure=True)
    assert (storage.timeout, storage.interval) == (10.0, None)
    storage.shutdown()


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_bad_variable_value_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """A variable that is not a positive number of milliseconds is an error naming it and its value."""
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", value)
    with pytest.raises(ValueError, match=f"OTEL_METRIC_EXPORT_INTERVAL.*{value!r}"):
        OTLPStorage("http://127.0.0.1:4317", insecure=True)

"""Metric filters in the spirit of Micrometer's MeterFilter, applied when a metric or series is created.

Filters never run on the recording path: a series' labels are transformed once, when it is created.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

from .._errors import InvalidLabelError
from .._model.validation import LabelKey, check_labels

__all__ = ["MetricFilter", "apply_filters", "name_accepted"]


class MetricFilter:
    """One rule: accept or deny metric names, or rewrite a new series' labels.

    Build them with the class methods and pass a list to ``MetricsCollector(filters=[...])``; they apply
    in order. Denied metrics still hand out working series objects, but nothing of them is exported.
    """

    def __init__(
        self,
        description: str,
        accept: Callable[[str], bool | None] | None = None,
        relabel: Callable[[str, dict[str, str]], dict[str, str]] | None = None,
    ) -> None:
        self.description = description
        self._accept = accept
        self._relabel = relabel

    def __repr__(self) -> str:
        return f"MetricFilter({self.description})"

    def decide(self, name: str) -> bool | None:
        """True: accept, False: deny, None: no opinion."""
        return self._accept(name) if self._accept is not None else None

    def relabel(self, name: str, labels: dict[str, str]) -> dict[str, str]:
        return self._relabel(name, labels) if self._relabel is not None else labels

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def deny(cls, prefix: str) -> MetricFilter:
        """Deny every metric whose name starts with ``prefix``."""
        return cls(f"deny {prefix!r}*", accept=lambda name: False if name.startswith(prefix) else None)

    @classmethod
    def accept(cls, prefix: str) -> MetricFilter:
        """Accept metrics starting with ``prefix``; combine with ``deny_others()`` for an allow-list."""
        return cls(f"accept {prefix!r}*", accept=lambda name: True if name.startswith(prefix) else None)

    @classmethod
    def deny_others(cls) -> MetricFilter:
        """Deny every metric no earlier filter accepted (put it last)."""
        return cls("deny others", accept=lambda name: False)

    @classmethod
    def drop_labels(cls, *keys: str, metric_prefix: str = "") -> MetricFilter:
        """Remove label ``keys`` (from metrics starting with ``metric_prefix``)."""
        drop = frozenset(keys)

        def relabel(name: str, labels: dict[str, str]) -> dict[str, str]:
            if not name.startswith(metric_prefix):
                return labels
            return {k: v for k, v in labels.items() if k not in drop}

        return cls(f"drop labels {sorted(drop)}", relabel=relabel)

    @classmethod
    def rename_label(cls, old: str, new: str, metric_prefix: str = "") -> MetricFilter:
        """Rename label ``old`` to ``new``."""
        check_labels("MetricFilter.rename_label", {new: ""})

        def relabel(name: str, labels: dict[str, str]) -> dict[str, str]:
            if not name.startswith(metric_prefix) or old not in labels:
                return labels
            out = {k: v for k, v in labels.items() if k != old}
            out[new] = labels[old]
            return out

        return cls(f"rename label {old!r} to {new!r}", relabel=relabel)

    @classmethod
    def replace_label_value(cls, key: str, replace: Callable[[str], str], metric_prefix: str = "") -> MetricFilter:
        """Replace label ``key``'s values through ``replace`` (e.g. ``/users/123`` -> ``/users/{id}``)."""

        def relabel(name: str, labels: dict[str, str]) -> dict[str, str]:
            if not name.startswith(metric_prefix) or key not in labels:
                return labels
            value = replace(labels[key])
            if not isinstance(value, str):
                raise InvalidLabelError(f"MetricFilter.replace_label_value({key!r}) returned {value!r}, not a str")
            return {**labels, key: value}

        return cls(f"replace values of {key!r}", relabel=relabel)

    @classmethod
    def cap_label_values(cls, key: str, max_values: int, other: str = "other", metric_prefix: str = "") -> MetricFilter:
        """Keep at most ``max_values`` distinct values of label ``key`` per metric; later ones become ``other``."""
        if isinstance(max_values, bool) or not isinstance(max_values, int) or max_values < 1:
            raise ValueError(f"cap_label_values max_values must be a positive int, got {max_values!r}")
        seen: dict[str, set[str]] = {}
        lock = threading.Lock()

        def relabel(name: str, labels: dict[str, str]) -> dict[str, str]:
            if not name.startswith(metric_prefix) or key not in labels:
                return labels
            with lock:
                values = seen.setdefault(name, set())
                if labels[key] in values:
                    return labels
                if len(values) < max_values:
                    values.add(labels[key])
                    return labels
            return {**labels, key: other}

        return cls(f"cap {key!r} at {max_values} values", relabel=relabel)

    @classmethod
    def common_labels(cls, labels: Mapping[str, str]) -> MetricFilter:
        """Add ``labels`` to every series (a series' own label of the same name wins)."""
        common = dict(check_labels("MetricFilter.common_labels", labels))
        return cls(f"common labels {common}", relabel=lambda name, own: {**common, **own})


def name_accepted(filters: Sequence[MetricFilter], name: str) -> bool:
    """The first filter with an opinion decides; accepted when none has one."""
    for f in filters:
        decision = f.decide(name)
        if decision is not None:
            return decision
    return True


def apply_filters(filters: Iterable[MetricFilter], name: str, key: LabelKey, reserved: Iterable[str]) -> LabelKey:
    """A new series' labels after every filter, validated again."""
    labels = dict(key)
    for f in filters:
        labels = f.relabel(name, labels)
    return check_labels(name, labels, reserved)

"""The naming and label practices applied at run time: a warning once per metric, or an error in strict mode."""

from __future__ import annotations

import logging
import re

from .._errors import InvalidLabelError, InvalidMetricNameError
from .._model.practices import CAMEL_CASE_LABEL, label_name_problem, label_value_problem, name_problems
from .._model.validation import LabelKey

__all__ = ["check_naming", "label_problem"]

_log = logging.getLogger("rfs_otel")


def check_naming(name: str, kind: str, strict: bool) -> None:
    """Warn about (strict: refuse) a new metric whose name breaks the naming conventions."""
    problems = name_problems(name, kind)
    if not problems:
        return
    message = f"{kind} {name!r}: {'; '.join(problems)} (see docs/concepts.md, Names and labels)"
    if strict:
        raise InvalidMetricNameError(message)
    _log.warning("%s", message)


def label_problem(name: str, key: LabelKey, strict: bool) -> str | None:
    """The first unbounded-looking label of a new series of metric ``name`` as a message with its fix, or None.

    Strict mode raises ``InvalidLabelError`` instead; the caller logs the message once per metric.
    """
    for label, value in key:
        problem = label_name_problem(label) or label_value_problem(label, value)
        if problem is None:
            continue
        if problem == CAMEL_CASE_LABEL:  # a naming problem, not a cardinality one: the fix is a rename
            snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", label).lower()
            fix = f"rename it with MetricFilter.rename_label({label!r}, {snake!r})"
            message = f"metric {name!r}: label {label!r}: {problem}; {fix}"
        else:
            message = (
                f"metric {name!r}: {problem}. Each value makes a series of its own; drop the label with "
                f"MetricFilter.drop_labels({label!r}, metric_prefix={name!r}) or cap it with "
                f"MetricFilter.cap_label_values({label!r}, 100, metric_prefix={name!r})"
            )
        if strict:
            raise InvalidLabelError(message)
        return message
    return None

"""A series' frozen labels and the OTel attributes made of them only when something asks (most scrapes never do)."""

from __future__ import annotations

from typing import Any

from .._model.validation import LabelKey

__all__ = ["Labelled"]


class Labelled:
    """Frozen labels (the family's index key, shared) and their OTel attributes, built on first use and kept.

    A dict per series costs about 180 bytes; the direct scrape reads ``label_key`` and never builds it.
    """

    __slots__ = ("_attributes", "label_key")

    def __init__(self, label_key: LabelKey) -> None:
        self.label_key = label_key
        self._attributes: dict[str, Any] | None = None

    @property
    def attributes(self) -> dict[str, Any]:
        """The OTel attributes (a dict of the labels, or the overflow series' own)."""
        found = self._attributes
        if found is None:
            found = self._attributes = dict(self.label_key)
        return found

    @attributes.setter
    def attributes(self, value: dict[str, Any]) -> None:
        self._attributes = value

    @property
    def labels(self) -> dict[str, str]:
        """This series' labels (a copy)."""
        return dict(self.label_key)

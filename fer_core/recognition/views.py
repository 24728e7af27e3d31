"""Test-time augmentation: the views of each face the classifier averages.

A *view* is the prepared 48x48 face shifted by a few pixels, turned and/or zoomed about its centre, and/or
mirrored. The classifier runs every view of every face of a frame in one batch and averages the probabilities per
face.
Training evaluation (``training.evaluate``, ``training.distill``) uses the same functions, so the numbers in the
model card are those of the app's inference path.

Named view sets (:data:`VIEW_SETS`) are what configurations, the CLI and the model card refer to; a view set can
also be written out as a list (``face,facem,z1.1r6,z1.1r6m``, :func:`parse_view`) to try others.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np


@dataclass(frozen=True)
class View:
    """One geometric view of a prepared face."""

    shift_x: float = 0.0
    """Pixels (at 48x48) the face moves to the right; negative: to the left."""
    shift_y: float = 0.0
    """Pixels the face moves down; negative: up."""
    zoom: float = 1.0
    """Scale about the centre: 1.1 enlarges the face (its borders leave the crop), 0.9 shrinks it."""
    mirror: bool = False
    """Mirror the (shifted, turned, zoomed) face left to right."""
    rotate: float = 0.0
    """Degrees the face turns about its centre, counter-clockwise (OpenCV's convention); negative: clockwise."""

    def __post_init__(self) -> None:
        if not 0.5 <= self.zoom <= 2.0:
            raise ValueError(f"zoom must be between 0.5 and 2.0, not {self.zoom}")
        if max(abs(self.shift_x), abs(self.shift_y)) > 12:
            raise ValueError(f"shifts must be at most 12 pixels, not ({self.shift_x}, {self.shift_y})")
        if abs(self.rotate) > 30:
            raise ValueError(f"rotate must be between -30 and 30 degrees, not {self.rotate}")

    @property
    def is_geometric(self) -> bool:
        return bool(self.shift_x or self.shift_y or self.rotate or self.zoom != 1.0)


def _with_mirrors(views: Sequence[View]) -> tuple[View, ...]:
    return tuple(views) + tuple(replace(v, mirror=True) for v in views)


_FIVE_SHIFTS = (View(), View(shift_x=2), View(shift_x=-2), View(shift_y=2), View(shift_y=-2))

VIEW_SETS: dict[str, tuple[View, ...]] = {
    "none": (View(),),
    "flip": (View(), View(mirror=True)),
    "zoom": _with_mirrors((View(), View(zoom=1.1))),
    "shift": _with_mirrors(_FIVE_SHIFTS),
    "multi": _with_mirrors((*_FIVE_SHIFTS, View(zoom=0.9), View(zoom=1.1))),
    "rotate": _with_mirrors((View(), View(zoom=1.1), View(rotate=6), View(rotate=-6))),
    "all": _with_mirrors((*_FIVE_SHIFTS, View(zoom=0.9), View(zoom=1.1), View(rotate=6), View(rotate=-6))),
}
"""Named view sets. ``none``: the face alone; ``flip``: and its mirror image; ``zoom``: the face and a 1.1 zoom,
each mirrored (4 views); ``shift``: the face and shifts of 2 px in four directions, each mirrored (10);
``multi``: those plus zooms 0.9 and 1.1, each mirrored (14); ``rotate``: the face, a 1.1 zoom and turns of 6 degrees
either way, each mirrored (8); ``all``: ``multi`` and the turns (18)."""


_VIEW_FIELDS = {"x": "shift_x", "y": "shift_y", "z": "zoom", "r": "rotate"}
_VIEW_TOKEN = re.compile(r"([xyzr])(-?\d+(?:\.\d+)?)")


def view_key(view: View) -> str:
    """A view written out, e.g. ``x2y0z1r0`` or ``x0y0z1.1r-6m`` (mirrored); :func:`parse_view` reads it back."""
    return f"x{view.shift_x:g}y{view.shift_y:g}z{view.zoom:g}r{view.rotate:g}" + ("m" if view.mirror else "")


def parse_view(text: str) -> View:
    """One view from its written form: ``face`` (the face as cut), or any of ``x<px>``, ``y<px>``, ``z<zoom>``,
    ``r<degrees>`` run together (``z1.1r-6``), with ``m`` at the end to mirror it (``facem``, ``r6m``). The form
    :func:`view_key` writes is read too. ValueError for anything else, or values out of :class:`View`'s limits."""
    body = text.strip()
    mirror = body.endswith("m")
    body = body[:-1] if mirror else body
    fields: dict[str, float] = {}
    if body != "face":
        tokens = _VIEW_TOKEN.findall(body)
        if not tokens or "".join(letter + number for letter, number in tokens) != body:
            raise ValueError(
                f"cannot read the view {text!r}: write face, or x<px>, y<px>, z<zoom>, r<degrees> run together "
                "(e.g. z1.1r-6), with m at the end to mirror it"
            )
        for letter, number in tokens:
            if _VIEW_FIELDS[letter] in fields:
                raise ValueError(f"the view {text!r} gives {letter} twice")
            fields[_VIEW_FIELDS[letter]] = float(number)
    return View(mirror=mirror, **fields)


def resolve_views(views: str | Sequence[View]) -> tuple[View, ...]:
    """The views of a named set (:data:`VIEW_SETS`), of a comma-separated list of written views
    (:func:`parse_view`, e.g. ``face,facem,r6,r6m``), or the given views; ValueError for an unknown name, a view
    that cannot be read, or an empty list."""
    if isinstance(views, str):
        if views in VIEW_SETS:
            return VIEW_SETS[views]
        if "," not in views and not _VIEW_TOKEN.match(views) and views.rstrip("m") != "face":
            raise ValueError(
                f"unknown view set {views!r}: choose one of {', '.join(VIEW_SETS)}, or list views (e.g. face,facem)"
            )
        return tuple(dict.fromkeys(parse_view(item) for item in views.split(",")))
    resolved = tuple(views)
    if not resolved or not all(isinstance(view, View) for view in resolved):
        raise ValueError("views must be a view-set name or a non-empty sequence of View")
    return resolved


def view_set_option(text: str) -> str:
    """``text`` itself if it names a view set or lists views (:func:`resolve_views`): the ``type`` of the commands'
    ``--views`` options, so that a bad value is refused with the reason before anything runs."""
    import argparse

    try:
        resolve_views(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _transform(faces: np.ndarray, view: View) -> np.ndarray:
    """One view of a batch (N, S, S, 1) float32."""
    out = faces
    if view.is_geometric:
        size = faces.shape[1]
        centre = (size - 1) / 2.0
        matrix = cv2.getRotationMatrix2D((centre, centre), view.rotate, view.zoom)
        matrix[:, 2] += (view.shift_x, view.shift_y)
        out = np.empty_like(faces)
        for index in range(faces.shape[0]):
            out[index, :, :, 0] = cv2.warpAffine(
                faces[index, :, :, 0], matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
            )
    if view.mirror:
        out = out[:, :, ::-1, :]
    return out


def expand_views(batch: np.ndarray, views: Sequence[View]) -> np.ndarray:
    """All views of a prepared batch (N, S, S, 1): (N * V, S, S, 1), view-major (every face's view 0 first)."""
    if batch.ndim != 4:
        raise ValueError(f"expected a prepared batch (N, H, W, 1), got shape {batch.shape}")
    if len(views) == 1 and views[0] == View():
        return batch
    return np.ascontiguousarray(np.concatenate([_transform(batch, view) for view in views]))


def view_pairs(batch: np.ndarray, pairs: Sequence[tuple[int, View]]) -> np.ndarray:
    """One view of one face of a prepared batch (N, S, S, 1) per ``(face index, view)`` pair: (len(pairs), S, S, 1),
    in the pairs' order (a stream's spread views, :mod:`fer_core.recognition.stream_readings`)."""
    if batch.ndim != 4:
        raise ValueError(f"expected a prepared batch (N, H, W, 1), got shape {batch.shape}")
    if not pairs:
        return batch[:0]
    return np.ascontiguousarray(np.concatenate([_transform(batch[index : index + 1], view) for index, view in pairs]))


def average_views(probabilities: np.ndarray, view_count: int) -> np.ndarray:
    """Mean over the views of :func:`expand_views`' output: (N * V, C) -> (N, C)."""
    if view_count < 1 or probabilities.shape[0] % view_count:
        raise ValueError(f"{probabilities.shape[0]} rows do not hold {view_count} views per face")
    if view_count == 1:
        return probabilities
    return probabilities.reshape(view_count, -1, probabilities.shape[-1]).mean(axis=0)

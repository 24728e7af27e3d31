"""Read ``models/model_card.json`` (written by ``python -m training.evaluate``) for the app's pages.

The card may be missing (the model was not evaluated yet) or unreadable; :func:`load_model_card` then returns
``None`` or raises :class:`ModelCardError` with a message fit for the page, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fer_core.labels import EMOTIONS

logger = logging.getLogger(__name__)

REPORT_TITLES: dict[str, str] = {
    "confusion_matrix": "Confusion matrix (PrivateTest)",
    "training_curves": "Training curves",
    "misclassified": "Misclassified PrivateTest faces",
}


VIEW_LABELS: dict[str, str] = {
    "none": "single view",
    "flip": "flip TTA (2 views)",
    "zoom": "zoom TTA (4 views)",
    "shift": "shift TTA (10 views)",
    "multi": "multi-view TTA (14 views)",
    "rotate": "rotate TTA (8 views)",
    "all": "every view (18)",
}


def metrics_key(split: str, views: str) -> str:
    """A metrics block's key in the card: ``PrivateTest``, ``PrivateTest_flip_tta``, ``PrivateTest_views_multi``."""
    if views == "none":
        return split
    if views == "flip":
        return f"{split}_flip_tta"
    return f"{split}_views_{views}"


def views_label(views: str) -> str:
    """A reader's name for a view set (``multi`` -> ``multi-view TTA (14 views)``)."""
    return VIEW_LABELS.get(views, f"{views} views")


def live_reading_note(config: Any) -> str:
    """What the Model page says about how the live page reads an ensemble, for a ``ClassifierConfig``."""
    if not config.stream_members:
        return "The live page runs the model alone, to stay real time."
    if config.spread_stream_views:
        return (
            "The live page averages them too, one model on one view of a face a frame, in turn, over the last "
            "frames, so a face costs one model pass a frame."
        )
    return "The live page averages them too (`stream_members` is on), which multiplies its per-face cost."


class ModelCardError(ValueError):
    """The model card exists but cannot be read; the message says which file and why."""


DEFAULT_CARD_PATH = Path(__file__).resolve().parents[2] / "models" / "model_card.json"


def default_card_path() -> Path:
    """``models/model_card.json`` at the repository root, or the ``FER_MODEL_CARD`` environment variable."""
    return Path(os.environ.get("FER_MODEL_CARD", DEFAULT_CARD_PATH))


@dataclass(frozen=True)
class ModelCard:
    """A parsed model card; ``data`` is the JSON as written by ``training.evaluate``."""

    path: Path
    data: Mapping[str, Any]

    @property
    def headline(self) -> Mapping[str, Any]:
        return self.data.get("headline", {})

    @property
    def accuracy(self) -> float | None:
        return _number(self.headline.get("accuracy"))

    @property
    def macro_f1(self) -> float | None:
        return _number(self.headline.get("macro_f1"))

    @property
    def split(self) -> str:
        return str(self.headline.get("split", "PrivateTest"))

    @property
    def views(self) -> str:
        """The test-time view set of the headline numbers (cards before views existed: ``flip`` or ``none``)."""
        views = self.headline.get("views")
        if isinstance(views, str):
            return views
        flip = self.headline.get("flip_tta", self.data.get("inference", {}).get("flip_tta", False))
        return "flip" if flip else "none"

    @property
    def flip_tta(self) -> bool:
        """Whether the headline numbers average each face with its mirror image only (the ``flip`` view set)."""
        return self.views == "flip"

    def recorded_views(self) -> list[str]:
        """The view sets the card has numbers for, in the order of :data:`VIEW_LABELS`."""
        metrics = self.data.get("metrics", {})
        if not isinstance(metrics, Mapping):
            return []
        names = list(VIEW_LABELS) + ([self.views] if self.views not in VIEW_LABELS else [])
        return [
            name
            for name in names
            if any(metrics_key(split, name) in metrics for split in ("PublicTest", "PrivateTest"))
        ]

    @property
    def runtime(self) -> str:
        """The runtime the headline numbers were measured on: ``int8`` (the quantized copy) or ``float``."""
        return str(self.headline.get("runtime", self.data.get("inference", {}).get("runtime", "float")))

    def split_metrics(
        self,
        split: str,
        *,
        views: str | None = None,
        flip_tta: bool | None = None,
        runtime: str | None = None,
    ) -> Mapping[str, Any] | None:
        """The metrics block for ``split`` ("PublicTest"/"PrivateTest") with a view set (default: the headline's),
        if present. ``flip_tta``: older shorthand for ``views="flip"``/``"none"``.

        ``runtime="float"`` asks for the float32 Keras model's numbers when the headline ones are the int8 copy's.
        """
        if views is None:
            views = ("flip" if flip_tta else "none") if flip_tta is not None else self.views
        float_asked = runtime == "float" and self.runtime != "float"
        metrics = self.data.get("metrics_float" if float_asked else "metrics", {})
        if not isinstance(metrics, Mapping):
            return None
        block = metrics.get(metrics_key(split, views))
        return block if isinstance(block, Mapping) else None

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per runtime, split and view set: accuracy and macro-F1 (as fractions), and the image count."""
        rows = []
        runtimes = [self.runtime] + (["float"] if self.runtime != "float" else [])
        for runtime in runtimes:
            for split in ("PublicTest", "PrivateTest"):
                for views in self.recorded_views():
                    block = self.split_metrics(split, views=views, runtime=runtime)
                    if block is None:
                        continue
                    rows.append(_summary_row(runtime, split, views, block))
        return rows

    def real_photo_sets(self) -> dict[str, Mapping[str, Any]]:
        """Real-photo evaluations (``python -m training.evaluate_photos``) by set name."""
        sets = self.data.get("real_photos")
        if not isinstance(sets, Mapping):
            return {}
        return {name: block for name, block in sets.items() if isinstance(block, Mapping)}

    def real_photo_rows(self) -> list[dict[str, Any]]:
        """One row per real-photo set: photos, accuracy, macro-F1, faces not found, recall per emotion."""
        rows = []
        for name, block in self.real_photo_sets().items():
            recall = block.get("recall") if isinstance(block.get("recall"), Mapping) else {}
            rows.append(
                {
                    "set": name,
                    "photos": block.get("count"),
                    "views": views_label(str(block.get("views", "?"))),
                    "accuracy": _number(block.get("accuracy")),
                    "macro-F1": _number(block.get("macro_f1")),
                    "no face found": block.get("faces_not_found"),
                    **{emotion: _number(recall.get(emotion)) for emotion in EMOTIONS},
                }
            )
        return rows

    def real_photo_confusion(self, name: str) -> dict[str, dict[str, int]]:
        """The confusion matrix of one real-photo set as {predicted column: {true emotion: count}}."""
        block = self.real_photo_sets().get(name, {})
        matrix = block.get("confusion_matrix") or []
        columns = block.get("confusion_columns") or [*EMOTIONS, "no face"]
        return {
            column: {EMOTIONS[row]: int(matrix[row][index]) for row in range(min(len(matrix), len(EMOTIONS)))}
            for index, column in enumerate(columns)
        }

    def real_photo_groups(self, name: str) -> dict[str, list[dict[str, Any]]]:
        """Accuracy per group of faces of one real-photo set (``evaluate_photos --group-by``), by grouping
        (e.g. ``person``), each a list of rows, the least reliable group first."""
        groupings = self.real_photo_sets().get(name, {}).get("groups")
        if not isinstance(groupings, Mapping):
            return {}
        tables = {}
        for grouping, groups in groupings.items():
            if not isinstance(groups, Mapping):
                continue
            rows = [
                {
                    "group": str(key),
                    "photos": group.get("count"),
                    "accuracy": _number(group.get("accuracy")),
                    "no face found": group.get("faces_not_found"),
                }
                for key, group in groups.items()
                if isinstance(group, Mapping)
            ]
            tables[str(grouping)] = sorted(rows, key=lambda row: (row["accuracy"] is None, row["accuracy"] or 0.0))
        return tables

    def per_class_rows(
        self, split: str | None = None, *, views: str | None = None, flip_tta: bool | None = None
    ) -> list[dict[str, Any]]:
        """Precision, recall, F1 and support per emotion for the headline split (or the one asked for)."""
        block = self.split_metrics(split or self.split, views=views, flip_tta=flip_tta)
        per_class = block.get("per_class", {}) if block else {}
        rows = []
        for name in EMOTIONS:
            values = per_class.get(name)
            if not isinstance(values, Mapping):
                continue
            rows.append(
                {
                    "emotion": name,
                    "precision": _number(values.get("precision")),
                    "recall": _number(values.get("recall")),
                    "F1": _number(values.get("f1")),
                    "support": values.get("support"),
                }
            )
        return rows

    def reports(self) -> dict[str, Path]:
        """Report figures that exist and are readable images, by name (paths are relative to the card's folder)."""
        found: dict[str, Path] = {}
        for name, relative in (self.data.get("reports") or {}).items():
            if not isinstance(relative, str):
                continue
            path = Path(relative)
            if not path.is_absolute():
                path = self.path.parent / path
            if _readable_image(path):
                found[name] = path
            else:
                logger.warning(
                    "model card %s lists report %s at %s, which is missing or unreadable", self.path, name, path
                )
        return found

    @property
    def members(self) -> list[str]:
        """The ensemble members averaged with the model in the headline numbers (file names; empty: the model alone)."""
        members = self.data.get("inference", {}).get("members", [])
        return [Path(str(member.get("file", ""))).name for member in members if isinstance(member, Mapping)]

    def recipe(self) -> list[str]:
        """The training commands that made the model, in order (empty when the card does not say)."""
        return training_recipe(self.data)

    def details(self) -> dict[str, Any]:
        """Short facts for a caption: architecture, parameters, evaluated_at, training epochs logged."""
        keys = ("architecture", "params", "model_file", "evaluated_at", "training_epochs_logged", "protocol")
        return {key: self.data[key] for key in keys if key in self.data}


def _summary_row(runtime: str, split: str, views: str, block: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "runtime": RUNTIME_NAMES.get(runtime, runtime),
        "split": split,
        "views": views_label(views),
        "accuracy": _number(block.get("accuracy")),
        "macro-F1": _number(block.get("macro_f1")),
        "images": block.get("count"),
    }


RUNTIME_NAMES: dict[str, str] = {"int8": "int8 copy", "float": "float32 Keras"}


def training_recipe(card: Mapping[str, Any]) -> list[str]:
    """The commands recorded in card data, earliest first: training (``training.recipe``, else its ``command``),
    then the int8 quantization when the headline runtime is the int8 copy."""
    training = card.get("training")
    recipe: list[Any] = []
    if isinstance(training, Mapping):
        recorded = training.get("recipe")
        recipe = recorded if isinstance(recorded, list) else [training.get("command")]
    inference = card.get("inference")
    if isinstance(inference, Mapping) and inference.get("runtime") == "int8":
        quantization = inference.get("quantization")
        if isinstance(quantization, Mapping):
            recipe = [*recipe, quantization.get("command")]
    return [command for command in recipe if isinstance(command, str) and command]


def _readable_image(path: Path) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return False
    return True


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def load_model_card(path: str | Path | None = None) -> ModelCard | None:
    """The card at ``path`` (default ``models/model_card.json``); ``None`` if there is none yet.

    Raises :class:`ModelCardError` if the file exists but is not a JSON object.
    """
    path = Path(path) if path is not None else default_card_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelCardError(f"{path} cannot be read ({error}); re-run `python -m training.evaluate`.") from error
    if not isinstance(data, dict):
        raise ModelCardError(
            f"{path} is not a model card (expected a JSON object); re-run `python -m training.evaluate`."
        )
    return ModelCard(path=path, data=data)


def format_percent(value: float | None) -> str:
    """``0.6123`` -> ``"61.2%"``; ``None`` -> ``"n/a"``."""
    return "n/a" if value is None else f"{value:.1%}"

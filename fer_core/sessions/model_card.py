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
    def flip_tta(self) -> bool:
        """Whether the headline numbers (and so the app's inference) average each face with its mirror image."""
        return bool(self.headline.get("flip_tta", self.data.get("inference", {}).get("flip_tta", False)))

    @property
    def runtime(self) -> str:
        """The runtime the headline numbers were measured on: ``int8`` (the quantized copy) or ``float``."""
        return str(self.headline.get("runtime", self.data.get("inference", {}).get("runtime", "float")))

    def split_metrics(self, split: str, *, flip_tta: bool, runtime: str | None = None) -> Mapping[str, Any] | None:
        """The metrics block for ``split`` ("PublicTest"/"PrivateTest") with or without flip TTA, if present.

        ``runtime="float"`` asks for the float32 Keras model's numbers when the headline ones are the int8 copy's.
        """
        float_asked = runtime == "float" and self.runtime != "float"
        metrics = self.data.get("metrics_float" if float_asked else "metrics", {})
        if not isinstance(metrics, Mapping):
            return None
        block = metrics.get(f"{split}_flip_tta" if flip_tta else split)
        return block if isinstance(block, Mapping) else None

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per runtime, split and TTA setting: accuracy and macro-F1 (as fractions), and the image count."""
        rows = []
        runtimes = [self.runtime] + (["float"] if self.runtime != "float" else [])
        for runtime in runtimes:
            for split in ("PublicTest", "PrivateTest"):
                for flip in (False, True):
                    block = self.split_metrics(split, flip_tta=flip, runtime=runtime)
                    if block is None:
                        continue
                    rows.append(_summary_row(runtime, split, flip, block))
        return rows

    def per_class_rows(self, split: str | None = None, *, flip_tta: bool | None = None) -> list[dict[str, Any]]:
        """Precision, recall, F1 and support per emotion for the headline split (or the one asked for)."""
        block = self.split_metrics(split or self.split, flip_tta=self.flip_tta if flip_tta is None else flip_tta)
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

    def recipe(self) -> list[str]:
        """The training commands that made the model, in order (empty when the card does not say)."""
        return training_recipe(self.data)

    def details(self) -> dict[str, Any]:
        """Short facts for a caption: architecture, parameters, evaluated_at, training epochs logged."""
        keys = ("architecture", "params", "model_file", "evaluated_at", "training_epochs_logged", "protocol")
        return {key: self.data[key] for key in keys if key in self.data}


def _summary_row(runtime: str, split: str, flip: bool, block: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "runtime": RUNTIME_NAMES.get(runtime, runtime),
        "split": split,
        "flip TTA": "yes" if flip else "no",
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

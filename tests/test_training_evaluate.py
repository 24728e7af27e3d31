"""training.evaluate with an ensemble: photos' headline views average the members, the live path's do not."""

from __future__ import annotations

import numpy as np
from conftest import FER_FIXTURES, save_small_random_model

from fer_core.recognition.classifier import ClassifierConfig, EmotionClassifier
from training.data import load_fer2013
from training.evaluate import evaluate, predict_split, split_metrics


def test_an_ensemble_card_scores_photos_with_the_members_and_frames_without(tmp_path):
    model = tmp_path / "main.keras"
    save_small_random_model(model, seed=1)
    save_small_random_model(tmp_path / "member.keras", seed=2)
    config = ClassifierConfig(members=("member.keras",), stream_members=False)
    card = evaluate(
        model, FER_FIXTURES, run_dir=None, card_path=tmp_path / "card.json", reports_dir=tmp_path / "reports",
        views="flip", cache_dir=tmp_path / "cache", classifier_config=config,
    )  # fmt: skip
    private = load_fer2013(FER_FIXTURES, cache_dir=tmp_path / "cache")["PrivateTest"]
    alone = EmotionClassifier(model, ClassifierConfig(members=()))
    ensemble = EmotionClassifier(model, config)
    photos = split_metrics(private.labels, predict_split(ensemble, private.images, views="flip"))
    frames = split_metrics(private.labels, predict_split(alone, private.images, views="none"))
    assert card["metrics"]["PrivateTest_flip_tta"]["accuracy"] == photos["accuracy"]
    assert card["headline"]["accuracy"] == photos["accuracy"]
    np.testing.assert_array_equal(card["metrics"]["PrivateTest"]["confusion_matrix"], frames["confusion_matrix"])
    with_members = split_metrics(private.labels, predict_split(ensemble, private.images, views="none"))
    assert with_members["confusion_matrix"] != frames["confusion_matrix"], "the member changes single-view answers"
    assert [member["file"] for member in card["inference"]["members"]] == ["member.keras"]
    assert card["inference"]["stream_members"] is False

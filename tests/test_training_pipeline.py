"""The whole training pipeline on the tiny fixture set: load -> train -> evaluate -> export -> reload in fer_core."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import evaluate_fixture_run

from training.train import TrainConfig, class_weights, export_float32, train

FIXTURES = Path(__file__).parent / "fixtures" / "fer2013_tiny"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    config = TrainConfig(
        data=str(FIXTURES),
        run_dir=str(run_dir),
        widths=(8, 8, 16, 16),
        epochs=2,
        batch_size=16,
        warmup_epochs=1,
        mixed_precision=False,
        cache_dir=str(run_dir / "cache"),
        patience=5,
    )
    summary = train(config, export=str(run_dir / "exported.keras"))
    return config, run_dir, summary


def test_training_writes_checkpoints_log_and_config(trained_run):
    config, run_dir, summary = trained_run
    for name in ("best.keras", "last.keras", "state.json", "log.csv", "config.json", "exported.keras"):
        assert (run_dir / name).is_file(), name
    log_lines = (run_dir / "log.csv").read_text().strip().splitlines()
    assert len(log_lines) == 1 + config.epochs
    assert "val_accuracy" in log_lines[0]
    state = json.loads((run_dir / "state.json").read_text())
    assert state["epoch"] == config.epochs
    assert summary["epochs_run"] == config.epochs
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["seed"] == config.seed and saved["params"] > 0 and len(saved["data_sha256"]) == 64


def test_resume_continues_from_last_epoch(trained_run):
    config, run_dir, _ = trained_run
    longer = TrainConfig(**{**config.__dict__, "epochs": config.epochs + 1})
    summary = train(longer, resume=True)
    assert summary["epochs_run"] == config.epochs + 1
    rows = (run_dir / "log.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + config.epochs + 1
    assert rows[-1].split(",")[0] == str(config.epochs)  # CSVLogger's epoch column is 0-based


def test_evaluate_writes_card_and_reports_and_fer_core_reloads(trained_run, tmp_path):
    from fer_core import EmotionRecognizer

    _, run_dir, _ = trained_run
    card_path = tmp_path / "model_card.json"
    card = evaluate_fixture_run(run_dir / "exported.keras", run_dir, tmp_path)
    assert json.loads(card_path.read_text()) == card
    assert card["classes"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    for key in ("PublicTest", "PublicTest_flip_tta", "PrivateTest", "PrivateTest_flip_tta"):
        metrics = card["metrics"][key]
        assert 0.0 <= metrics["accuracy"] <= 1.0
        assert np.asarray(metrics["confusion_matrix"]).sum() == metrics["count"]
        assert set(metrics["per_class"]) == set(card["classes"])
    for name in ("confusion_matrix", "training_curves", "misclassified"):
        png = card_path.parent / card["reports"][name]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    recognizer = EmotionRecognizer(run_dir / "exported.keras")
    faces = sorted((FIXTURES / "test").rglob("PrivateTest_*.jpg"))[:4]
    import cv2

    results = recognizer.classify_faces([cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in faces])
    assert len(results) == 4
    for result in results:
        assert abs(sum(result.probabilities) - 1.0) < 1e-4


def test_export_float32_matches_mixed_precision_checkpoint(tmp_path):
    import keras

    from training.train import build_model

    config = TrainConfig(widths=(8, 8, 16, 16))
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_model(config)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.save(tmp_path / "mixed.keras")
    exported = export_float32(tmp_path / "mixed.keras", tmp_path / "f32.keras", config)
    reloaded = keras.models.load_model(exported)
    assert all(weight.dtype == "float32" for weight in reloaded.weights)
    x = np.random.default_rng(0).random((4, 48, 48, 1), dtype=np.float32)
    np.testing.assert_allclose(reloaded(x).numpy(), model(x).numpy().astype(np.float32), atol=0.05)


def test_class_weights():
    labels = np.array([0] * 90 + [1] * 10)
    assert class_weights(labels, "none") is None
    balanced = class_weights(labels, "balanced")
    assert balanced[1] > balanced[0]
    sqrt = class_weights(labels, "sqrt")
    assert balanced[1] / balanced[0] > sqrt[1] / sqrt[0] > 1
    # weights keep the average sample weight at 1
    assert abs((balanced[0] * 90 + balanced[1] * 10) / 100 - 1) < 1e-9
    with pytest.raises(ValueError):
        class_weights(labels, "bogus")


def test_init_from_copies_weights_and_refuses_another_architecture(trained_run, tmp_path):
    import keras

    from training.train import build_model, initialise_from

    config, run_dir, _ = trained_run
    source = keras.models.load_model(run_dir / "best.keras", compile=False)
    model = build_model(config)
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), source.get_weights(), strict=True))
    initialise_from(model, run_dir / "best.keras")
    for copied, original in zip(model.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(copied, original)
    wider = build_model(TrainConfig(widths=(8, 8, 16, 32)))
    with pytest.raises(ValueError, match="architecture"):
        initialise_from(wider, run_dir / "best.keras")
    with pytest.raises(ValueError, match="no such model file"):
        initialise_from(model, tmp_path / "missing.keras")


def test_warm_started_stage_gives_the_card_the_whole_recipe_and_curve(trained_run, tmp_path):
    config, run_dir, _ = trained_run
    first_epochs = len((run_dir / "log.csv").read_text().strip().splitlines()) - 1
    stage_two = tmp_path / "stage2"
    second = TrainConfig(
        **{**config.__dict__, "run_dir": str(stage_two), "init_from": str(run_dir / "last.keras"), "epochs": 1}
    )
    train(second, export=str(stage_two / "exported.keras"))
    card = evaluate_fixture_run(stage_two / "exported.keras", stage_two, tmp_path)
    training = card["training"]
    assert [stage["run_dir"] for stage in training["stages"]] == [str(run_dir), str(stage_two)]
    assert training["stages"][1]["init_from"] == str(run_dir / "last.keras")
    assert training["recipe"] == [json.loads((d / "config.json").read_text())["command"] for d in (run_dir, stage_two)]
    assert card["training_epochs_logged"] == first_epochs + 1
    assert (tmp_path / card["reports"]["training_curves"]).read_bytes()[:4] == b"\x89PNG"


def test_resumed_and_warm_started_runs_do_not_replay_the_first_epochs_batches(trained_run, tmp_path):
    from training.train import batch_stream_seed

    config, run_dir, _ = trained_run
    assert batch_stream_seed(config, 0) == config.seed  # a fresh run keeps the seed it records
    assert batch_stream_seed(config, 5) == config.seed + 5
    trained_epochs = json.loads((run_dir / "state.json").read_text())["epoch"]
    warm = TrainConfig(**{**config.__dict__, "init_from": str(run_dir / "last.keras")})
    assert batch_stream_seed(warm, 0) == config.seed + trained_epochs
    assert batch_stream_seed(warm, 2) == config.seed + trained_epochs + 2
    orphan = TrainConfig(**{**config.__dict__, "init_from": str(tmp_path / "elsewhere" / "model.keras")})
    assert batch_stream_seed(orphan, 0) != config.seed


def test_resumed_optimizer_keeps_weight_decay_off_the_biases(trained_run):
    import keras

    from training.train import exclude_from_weight_decay

    _, run_dir, _ = trained_run
    model = keras.models.load_model(run_dir / "last.keras")
    optimizer = model.optimizer
    assert optimizer.built
    bias = next(v for v in model.trainable_variables if v.name == "bias")
    kernel = next(v for v in model.trainable_variables if v.name == "kernel")
    assert optimizer._use_weight_decay(bias)  # Keras does not save the exclusion
    optimizer._exclude_from_weight_decay_cache = {}
    exclude_from_weight_decay(optimizer)
    assert not optimizer._use_weight_decay(bias)
    assert optimizer._use_weight_decay(kernel)
    assert optimizer.built

"""The whole training pipeline on the tiny fixture set: load -> train -> evaluate -> export -> reload in fer_core.

Also ``python -m training.train``'s options: one for each ``TrainConfig`` field, the commands the model card
records, and what ``--resume`` ignores.
"""

from __future__ import annotations

import json
import logging
import shlex
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from conftest import evaluate_fixture_run

from training.train import (
    TrainConfig,
    build_parser,
    class_weights,
    config_from_record,
    export_float32,
    main,
    option_flag,
    parse_args,
    train,
)

FIXTURES = Path(__file__).parent / "fixtures" / "fer2013_tiny"
MODEL_CARD = Path(__file__).parents[1] / "models" / "model_card.json"


def fixture_run_options(run_dir: Path, cache_dir: Path) -> list[str]:
    """The command-line options of a tiny float32 run on the fixture set."""
    return [
        *("--data", str(FIXTURES), "--run-dir", str(run_dir), "--cache-dir", str(cache_dir)),
        *("--widths", "8,8,16,16", "--epochs", "2", "--batch-size", "16", "--warmup-epochs", "1", "--patience", "5"),
        "--no-mixed-precision",  # main() sets Keras' global policy for the process; keep other tests float32
    ]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run started as ``python -m training.train`` would start it; its folder name needs quoting in a shell."""
    run_dir = tmp_path_factory.mktemp("runs") / "first run"
    argv = [*fixture_run_options(run_dir, run_dir.parent / "cache"), "--export", str(run_dir / "exported.keras")]
    assert main(argv) == 0
    config, _ = parse_args(argv)
    return config, run_dir


def test_training_writes_checkpoints_log_and_config(trained_run):
    config, run_dir = trained_run
    for name in ("best.keras", "last.keras", "state.json", "log.csv", "config.json", "exported.keras"):
        assert (run_dir / name).is_file(), name
    log_lines = (run_dir / "log.csv").read_text().strip().splitlines()
    assert len(log_lines) == 1 + config.epochs
    assert "val_accuracy" in log_lines[0]
    state = json.loads((run_dir / "state.json").read_text())
    assert state["epoch"] == config.epochs
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["seed"] == config.seed and saved["params"] > 0 and len(saved["data_sha256"]) == 64
    assert config_from_record(saved) == config


def test_config_records_the_command_given_to_main(trained_run):
    _, run_dir = trained_run
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["command"] == (
        f"python -m training.train --data {FIXTURES} --run-dir '{run_dir}' --cache-dir {run_dir.parent}/cache "
        "--widths 8,8,16,16 --epochs 2 --batch-size 16 --warmup-epochs 1 --patience 5 --no-mixed-precision "
        f"--export '{run_dir}/exported.keras'"
    )


def test_resume_continues_from_last_epoch(trained_run):
    config, run_dir = trained_run
    longer = TrainConfig(**{**config.__dict__, "epochs": config.epochs + 1})
    summary = train(longer, resume=True)
    assert summary["epochs_run"] == config.epochs + 1
    rows = (run_dir / "log.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + config.epochs + 1
    assert rows[-1].split(",")[0] == str(config.epochs)  # CSVLogger's epoch column is 0-based


def test_evaluate_writes_card_and_reports_and_fer_core_reloads(trained_run, tmp_path):
    from fer_core import EmotionRecognizer

    _, run_dir = trained_run
    card_path = tmp_path / "model_card.json"
    card = evaluate_fixture_run(run_dir / "exported.keras", run_dir, tmp_path)
    assert json.loads(card_path.read_text()) == card
    assert card["classes"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    for key in ("PublicTest", "PublicTest_flip_tta", "PrivateTest", "PrivateTest_flip_tta"):
        metrics = card["metrics"][key]
        confusion = np.asarray(metrics["confusion_matrix"])
        assert confusion.sum() == metrics["count"]
        assert metrics["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum(), abs=1e-4)
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

    config, run_dir = trained_run
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
    config, run_dir = trained_run
    first_epochs = len((run_dir / "log.csv").read_text().strip().splitlines()) - 1
    stage_two = tmp_path / "stage2"
    second = [*fixture_run_options(stage_two, Path(config.cache_dir)), "--init-from", str(run_dir / "last.keras")]
    assert main([*second, "--epochs", "1", "--export", str(stage_two / "exported.keras")]) == 0
    card = evaluate_fixture_run(stage_two / "exported.keras", stage_two, tmp_path)
    training = card["training"]
    assert [stage["run_dir"] for stage in training["stages"]] == [str(run_dir), str(stage_two)]
    assert training["stages"][1]["init_from"] == str(run_dir / "last.keras")
    assert training["recipe"] == [json.loads((d / "config.json").read_text())["command"] for d in (run_dir, stage_two)]
    assert training["recipe"][0].startswith(f"python -m training.train --data {FIXTURES} --run-dir '{run_dir}' ")
    assert training["recipe"][1].endswith(
        f"--init-from '{run_dir}/last.keras' --epochs 1 --export {stage_two}/exported.keras"
    )
    assert card["training_epochs_logged"] == first_epochs + 1
    assert (tmp_path / card["reports"]["training_curves"]).read_bytes()[:4] == b"\x89PNG"


def test_resumed_and_warm_started_runs_do_not_replay_the_first_epochs_batches(trained_run, tmp_path):
    from training.train import batch_stream_seed

    config, run_dir = trained_run
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

    _, run_dir = trained_run
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


def test_resume_warns_about_each_option_it_ignores(trained_run, caplog):
    """--resume trains on with the saved configuration: options given that differ from it are named."""
    config, run_dir = trained_run
    state = json.loads((run_dir / "state.json").read_text())
    # --widths is given as saved; --data, --batch-size, --patience and others are left out (their defaults differ)
    argv = ["--run-dir", str(run_dir), "--resume", "--widths", "8,8,16,16", "--epochs", "1", "--seed", "7"]
    with caplog.at_level(logging.WARNING, logger="training.train"):
        assert main([*argv, "--augment", "erasing=0"]) == 0
    assert [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING] == [
        f"--resume trains on with the run's saved configuration: ignoring {option}"
        for option in (
            "--epochs (epochs=1; saved: 2)",
            f"--seed (seed=7; saved: {config.seed})",
            "--augment (augment={'erasing': 0.0}; saved: {})",
        )
    ]
    assert json.loads((run_dir / "state.json").read_text())["epoch"] == state["epoch"]  # nothing more trained


def non_default_option(item) -> list[str]:
    """Command-line words that set the ``TrainConfig`` field ``item`` to something other than its default."""
    if "const" in item.metadata:
        return [option_flag(item)]
    if "choices" in item.metadata:
        return [option_flag(item), item.metadata["choices"][-1]]
    default = getattr(TrainConfig(), item.name)
    return [option_flag(item), {tuple: "3,5", int: "7", float: "0.25", dict: "zoom=0.2"}.get(type(default), "x")]


def test_every_config_field_is_a_command_line_option():
    """Each field's option sets that field and no other (a field of a type with no command-line form fails)."""
    defaults = TrainConfig()
    for item in fields(TrainConfig):
        config, _ = parse_args(non_default_option(item))
        changed = [name for name, value in vars(config).items() if value != getattr(defaults, name)]
        assert changed == [item.name], non_default_option(item)
    assert "--blocks BLOCKS" in build_parser().format_help()


def test_every_option_keeps_its_name_and_meaning():
    config, args = parse_args([])
    assert config == TrainConfig() and not args.resume and args.export is None
    argv = (
        "--data d.zip --run-dir r --architecture vgg16 --widths 8,16 --blocks 2,3 --weights-path w.h5 "
        "--init-from i.keras --epochs 5 --batch-size 8 --optimizer sgd --learning-rate 5e-4 --warmup-epochs 2 "
        "--schedule plateau --weight-decay 0 --label-smoothing 0.2 --class-weight balanced --dropout 0.1 "
        "--patience 3 --seed 9 --no-mixed-precision --threads 2 --limit 10 --cache-dir c --augment erasing=0,gamma=0.3 "
        "--swa-start 4 --distill-from t.keras --distill-weight 0.7 --resume --export e.keras"
    )
    config, args = parse_args(argv.split())
    assert config == TrainConfig(
        data="d.zip",
        run_dir="r",
        architecture="vgg16",
        widths=(8, 16),
        blocks_per_stage=(2, 3),
        weights_path="w.h5",
        init_from="i.keras",
        epochs=5,
        batch_size=8,
        optimizer="sgd",
        learning_rate=5e-4,
        warmup_epochs=2,
        schedule="plateau",
        weight_decay=0.0,
        label_smoothing=0.2,
        class_weight="balanced",
        dropout=0.1,
        patience=3,
        seed=9,
        mixed_precision=False,
        threads=2,
        limit=10,
        cache_dir="c",
        augment={"erasing": 0.0, "gamma": 0.3},
        swa_start=4,
        distill_from="t.keras",
        distill_weight=0.7,
    )
    assert args.resume and args.export == "e.keras"
    with pytest.raises(SystemExit):
        parse_args(["--schedule", "linear"])
    for wrong in ("sharpness=0.2", "zoom", "zoom=big", "blur=2", "mixup=0.2,cutmix=1"):
        with pytest.raises(SystemExit):
            parse_args(["--augment", wrong])


def test_the_model_cards_recorded_commands_give_its_recorded_configuration():
    training = json.loads(MODEL_CARD.read_text())["training"]
    assert [stage["command"] for stage in training["stages"]] == training["recipe"]
    for stage in training["stages"]:
        words = shlex.split(stage["command"])
        assert words[:3] == ["python", "-m", "training.train"]
        config, args = parse_args(words[3:])
        recorded = ("run_dir", "init_from", "epochs", "learning_rate")
        assert {key: getattr(config, key) for key in recorded} == {key: stage[key] for key in recorded}
        assert args.export == f"{stage['run_dir']}/fer_model.keras"
    # the card records the last stage's whole configuration beside its command
    assert training["command"] == training["recipe"][-1]
    final, _ = parse_args(shlex.split(training["command"])[3:])
    assert sum(item.name in training for item in fields(TrainConfig)) >= 25
    assert final == config_from_record(training)

"""Train a FER2013 model: ``python -m training.train --data ../shared/datasets/fer2013.zip --run-dir runs/main``.

Trains on Training, selects the checkpoint and stops early on PublicTest (PrivateTest is never read here),
checkpoints every epoch (``--resume`` continues from the last one), logs a CSV, and exports the best
checkpoint as a float32 ``.keras`` file for ``fer_core``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger("training.train")

SCHEDULES = ("cosine", "constant", "plateau")


@dataclass
class TrainConfig:
    """Everything that defines a training run (written to ``<run-dir>/config.json`` and the model card)."""

    data: str = "../shared/datasets/fer2013.zip"
    run_dir: str = "runs/main"
    architecture: str = "resnet"
    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks_per_stage: tuple[int, ...] = (1, 1, 1)
    weights_path: str | None = None
    init_from: str | None = None
    """Warm start: a .keras model of the same architecture whose weights replace the random initialisation."""
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    warmup_epochs: int = 1
    schedule: str = "cosine"
    """cosine (decays to 0), constant (after the warm-up; e.g. for weight averaging) or plateau."""
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    class_weight: str = "none"
    dropout: float = 0.3
    patience: int = 20
    seed: int = 1234
    mixed_precision: bool = True
    threads: int = 0
    limit: int = 0
    cache_dir: str | None = None
    augment: dict = field(default_factory=dict)
    swa_start: int = 0
    """Average the weights of every epoch from this one (1-based) on; 0: no weight averaging (see training.swa)."""
    distill_from: str | None = None
    """A teacher .keras model: train towards its mirror-averaged probabilities (see training.distill)."""
    distill_weight: float = 0.5
    """Share of the teacher in the targets (the rest is the one-hot labels)."""


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, argparse.Namespace]:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=defaults.data, help="Kaggle zip, its unpacked folder, or fer2013.csv")
    parser.add_argument("--run-dir", default=defaults.run_dir, help="checkpoints, CSV log and config go here")
    parser.add_argument("--architecture", choices=("resnet", "vgg16", "resnet50v2"), default=defaults.architecture)
    parser.add_argument("--widths", default=",".join(map(str, defaults.widths)), help="resnet: stem,stage1,...")
    parser.add_argument("--blocks", default=",".join(map(str, defaults.blocks_per_stage)), help="resnet blocks/stage")
    parser.add_argument("--weights-path", default=None, help="vgg16/resnet50v2: local ImageNet *_notop.h5 file")
    parser.add_argument(
        "--init-from",
        default=None,
        help="warm start from this .keras model's weights (same architecture), e.g. a second cosine cycle",
    )
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument(
        "--optimizer",
        choices=("adamw", "sgd"),
        default=defaults.optimizer,
        help="AdamW (decoupled weight decay) or SGD with Nesterov momentum 0.9",
    )
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--warmup-epochs", type=int, default=defaults.warmup_epochs)
    parser.add_argument("--schedule", choices=SCHEDULES, default=defaults.schedule)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--label-smoothing", type=float, default=defaults.label_smoothing)
    parser.add_argument("--class-weight", choices=("none", "balanced", "sqrt"), default=defaults.class_weight)
    parser.add_argument("--dropout", type=float, default=defaults.dropout)
    parser.add_argument("--patience", type=int, default=defaults.patience, help="early stopping on PublicTest")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--no-mixed-precision", action="store_true", help="train in float32 (default: bfloat16)")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: all cores)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N images per split (smoke tests)")
    parser.add_argument("--cache-dir", default=None, help="where decoded arrays are cached (default ~/.cache/fer_app)")
    parser.add_argument("--no-erasing", action="store_true", help="turn random erasing off")
    parser.add_argument(
        "--swa-start",
        type=int,
        default=defaults.swa_start,
        help="average the weights of every epoch from this one on (stochastic weight averaging); 0: off",
    )
    parser.add_argument(
        "--distill-from",
        default=None,
        help="teacher .keras model: train towards its mirror-averaged probabilities (knowledge distillation)",
    )
    parser.add_argument(
        "--distill-weight",
        type=float,
        default=defaults.distill_weight,
        help="share of the teacher's probabilities in the targets, the rest being the labels (0.5)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from <run-dir>/last.keras")
    parser.add_argument("--export", default=None, help="copy the best checkpoint (float32) to this .keras path")
    args = parser.parse_args(argv)
    config = TrainConfig(
        data=args.data,
        run_dir=args.run_dir,
        architecture=args.architecture,
        widths=tuple(int(v) for v in args.widths.split(",")),
        blocks_per_stage=tuple(int(v) for v in args.blocks.split(",")),
        weights_path=args.weights_path,
        init_from=args.init_from,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        warmup_epochs=args.warmup_epochs,
        schedule=args.schedule,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        class_weight=args.class_weight,
        dropout=args.dropout,
        patience=args.patience,
        seed=args.seed,
        mixed_precision=not args.no_mixed_precision,
        threads=args.threads,
        limit=args.limit,
        cache_dir=args.cache_dir,
        augment={"erasing": 0.0} if args.no_erasing else {},
        swa_start=args.swa_start,
        distill_from=args.distill_from,
        distill_weight=args.distill_weight,
    )
    return config, args


def class_weights(labels: np.ndarray, mode: str) -> dict[int, float] | None:
    """Per-class loss weights: None, 'balanced' (inverse frequency) or 'sqrt' (its square root), mean 1."""
    from fer_core.labels import NUM_CLASSES

    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(np.float64)
    weights = counts.sum() / (NUM_CLASSES * np.maximum(counts, 1))
    if mode == "sqrt":
        weights = np.sqrt(weights)
    elif mode != "balanced":
        raise ValueError(f"unknown class weighting {mode!r}")
    weights /= (weights * counts).sum() / counts.sum()
    return {index: float(weight) for index, weight in enumerate(weights)}


def build_model(config: TrainConfig):
    from training.models import CNNConfig, build_residual_cnn, build_transfer_model

    if config.architecture == "resnet":
        return build_residual_cnn(CNNConfig(config.widths, config.blocks_per_stage, dropout=config.dropout))
    return build_transfer_model(config.architecture, weights_path=config.weights_path, dropout=config.dropout)


def initialise_from(model, source: Path) -> None:
    """Copy the weights of the saved model ``source`` into ``model``; ValueError when they do not fit."""
    import keras

    if not source.is_file():
        raise ValueError(f"--init-from: no such model file: {source}")
    weights = keras.models.load_model(source, compile=False).get_weights()
    expected = [tuple(w.shape) for w in model.get_weights()]
    if [tuple(w.shape) for w in weights] != expected:
        raise ValueError(f"--init-from: {source} does not have the architecture of this run ({model.name})")
    model.set_weights(weights)
    logger.info("initialised from %s", source)


def batch_stream_seed(config: TrainConfig, initial_epoch: int) -> int:
    """Seed of the shuffle order and the augmentation draws for a process that starts at ``initial_epoch``.

    A fresh run uses ``config.seed``. Both random streams start over in every process, so a resumed run, or a
    warm start from a run with the same seed, would otherwise replay the very batches (order, crops, erasing
    noise) of the run's first epochs, which the network then partly recognises. The seed moves on by the epochs
    already trained: ``initial_epoch`` when resuming, plus the source run's epochs for ``--init-from``.
    """
    from training.stages import read_json

    earlier = int(read_json(Path(config.init_from).parent / "state.json").get("epoch", 1)) if config.init_from else 0
    return config.seed + earlier + initial_epoch


def exclude_from_weight_decay(optimizer) -> None:
    """Keep AdamW's decoupled weight decay off the biases (Keras matches the variable's short name).

    BatchNormalization's gamma and beta are decayed like the kernels, as in every run so far. Keras does not
    save the exclusion with the optimizer, so a resumed run sets it again on the loaded (already built) one.
    """
    import keras

    if not isinstance(optimizer, keras.optimizers.AdamW):
        return
    built = optimizer.built
    optimizer.built = False  # Keras only accepts the exclusion before building; it is a name filter, safe after
    try:
        optimizer.exclude_from_weight_decay(var_names=["bias"])
    finally:
        optimizer.built = built


def export_float32(checkpoint: Path, destination: Path, config: TrainConfig) -> Path:
    """Rebuild the architecture in float32, copy the checkpoint's weights, save without optimiser state."""
    import keras

    trained = keras.models.load_model(checkpoint, compile=False)
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("float32")
    try:
        model = build_model(config)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    model.set_weights(trained.get_weights())
    destination.parent.mkdir(parents=True, exist_ok=True)
    model.save(destination)
    logger.info("exported %s -> %s", checkpoint, destination)
    return destination


def train(config: TrainConfig, *, resume: bool = False, export: str | None = None) -> dict:
    """Run one training; return a summary (best PublicTest accuracy, epochs, minutes)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from fer_core.recognition.preprocessing import prepare_faces
    from training.augment import AugmentConfig, build_augmenter
    from training.data import load_fer2013, source_fingerprint
    from training.stages import read_json

    if config.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {config.schedule!r}: choose one of {', '.join(SCHEDULES)}")
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path, state_path = run_dir / "last.keras", run_dir / "best.keras", run_dir / "state.json"
    if config.threads:
        tf.config.threading.set_intra_op_parallelism_threads(config.threads)
    keras.utils.set_random_seed(config.seed)
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")

    splits = load_fer2013(config.data, **({"cache_dir": config.cache_dir} if config.cache_dir else {}))
    train_split, public_split = splits["Training"], splits["PublicTest"]
    logger.info("Training class counts: %s", train_split.class_counts())
    logger.info("PublicTest class counts: %s", public_split.class_counts())
    x_train, y_train = train_split.images, train_split.labels
    x_public, y_public = public_split.images, public_split.labels
    if config.limit:
        x_train, y_train, x_public, y_public = (
            x_train[: config.limit],
            y_train[: config.limit],
            x_public[: config.limit],
            y_public[: config.limit],
        )
    x_train, x_public = prepare_faces(x_train), prepare_faces(x_public)
    train_targets = keras.utils.to_categorical(y_train, 7).astype("float32")
    one_hot_public = keras.utils.to_categorical(y_public, 7).astype("float32")
    if config.distill_from:
        from training.distill import distillation_targets

        train_targets = distillation_targets(Path(config.distill_from), x_train, train_targets, config.distill_weight)

    state = read_json(state_path) if resume else {}
    initial_epoch = int(state.get("epoch", 0)) if resume and last_path.exists() else 0
    stream_seed = batch_stream_seed(config, initial_epoch)
    logger.info("shuffle and augmentation seed %d", stream_seed)
    augmenter = build_augmenter(AugmentConfig(**config.augment), seed=stream_seed)
    train_ds = (
        tf.data.Dataset.from_tensor_slices((x_train, train_targets))
        .shuffle(len(x_train), seed=stream_seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
        .map(lambda x, y: (augmenter(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    public_ds = tf.data.Dataset.from_tensor_slices((x_public, one_hot_public)).batch(256).prefetch(2)
    steps_per_epoch = int(np.ceil(len(x_train) / config.batch_size))

    if initial_epoch:
        model = keras.models.load_model(last_path)
        exclude_from_weight_decay(model.optimizer)  # not saved with the optimizer
        logger.info(
            "resuming from %s at epoch %d (best PublicTest %.4f)", last_path, initial_epoch, state.get("best", 0.0)
        )
    else:
        if resume:
            logger.warning("--resume given but %s does not exist: starting from scratch", last_path)
        state, initial_epoch = {}, 0
        model = build_model(config)
        if config.init_from:
            initialise_from(model, Path(config.init_from))
            if config.schedule == "cosine" and config.patience < config.epochs:
                logger.warning(
                    "a warm-started cosine cycle scores below its starting point until the learning rate falls: "
                    "--patience %d may stop it early (pass --patience %d to run it through)",
                    config.patience,
                    config.epochs,
                )
        total_steps = steps_per_epoch * config.epochs
        warmup_steps = min(steps_per_epoch * config.warmup_epochs, total_steps // 2)
        if config.schedule in ("cosine", "constant"):
            learning_rate = keras.optimizers.schedules.CosineDecay(
                config.learning_rate * 0.1,
                max(total_steps - warmup_steps, 1),
                alpha=0.0 if config.schedule == "cosine" else 1.0,
                warmup_target=config.learning_rate,
                warmup_steps=warmup_steps,
            )
        else:
            learning_rate = config.learning_rate
        if config.optimizer == "adamw":
            optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=config.weight_decay)
            exclude_from_weight_decay(optimizer)
        elif config.optimizer == "sgd":
            optimizer = keras.optimizers.SGD(
                learning_rate, momentum=0.9, nesterov=True, weight_decay=config.weight_decay or None
            )
        else:
            raise ValueError(f"unknown optimizer {config.optimizer!r}")
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
            metrics=["accuracy"],
        )
        config_dict = asdict(config)
        config_dict["data_sha256"] = source_fingerprint(Path(config.data))
        config_dict["params"] = int(model.count_params())
        config_dict["command"] = "python -m training.train " + " ".join(sys.argv[1:])
        (run_dir / "config.json").write_text(json.dumps(config_dict, indent=2))
    logger.info("model %s: %d parameters, %d steps/epoch", model.name, model.count_params(), steps_per_epoch)

    averager = weight_averager(config, run_dir, state) if config.swa_start else None

    class SaveState(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            accuracy = float(logs.get("val_accuracy", 0.0))
            if accuracy > state.get("best", -1.0):
                state.update(best=accuracy, best_epoch=epoch + 1)
            state["epoch"] = epoch + 1
            if averager is not None:
                state["swa_epochs"] = averager.count
            state["wall_minutes"] = state.get("wall_minutes", 0.0) + (time.time() - self.started) / 60
            self.model.save(last_path)
            state_path.write_text(json.dumps(state, indent=2))
            self.started = time.time()

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.time()

    callbacks = [
        keras.callbacks.ModelCheckpoint(
            best_path,
            monitor="val_accuracy",
            mode="max",
            save_best_only=True,
            initial_value_threshold=state.get("best"),
        ),
        keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=resume),
        keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=config.patience),
        *([averager] if averager is not None else []),
        SaveState(),
    ]
    if config.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", mode="max", factor=0.3, patience=4))
    model.fit(
        train_ds,
        validation_data=public_ds,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        class_weight=class_weights(y_train, config.class_weight),
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    summary = {
        "best_public_accuracy": state.get("best"),
        "best_epoch": state.get("best_epoch"),
        "epochs_run": state.get("epoch"),
        "wall_minutes": round(state.get("wall_minutes", 0.0), 1),
    }
    chosen = best_path
    if averager is not None and averager.count:
        averaged_accuracy = finish_weight_average(averager, x_train, public_ds, run_dir / AVERAGED_MODEL)
        state["swa_public_accuracy"] = averaged_accuracy
        summary.update(swa_epochs=averager.count, swa_public_accuracy=averaged_accuracy)
        if averaged_accuracy >= state.get("best", 0.0):
            chosen = run_dir / AVERAGED_MODEL
    summary["exported"] = str(chosen)
    state["selected"] = chosen.name
    state_path.write_text(json.dumps(state, indent=2))
    logger.info("done: %s", summary)
    if export:
        export_float32(chosen, Path(export), config)
    return summary


AVERAGED_MODEL = "averaged.keras"
"""The weight average with recomputed batch-norm statistics, exported when it beats best.keras on PublicTest."""


def weight_averager(config: TrainConfig, run_dir: Path, state: dict):
    """The SWA callback, carrying on the saved running average when a resumed run had started averaging."""
    from training.swa import WeightAverage

    path = run_dir / "swa_running.npz"
    if state.get("swa_epochs"):
        return WeightAverage.resume(config.swa_start, path)
    return WeightAverage(config.swa_start, path)


def finish_weight_average(averager, train_images: np.ndarray, public_ds, destination: Path) -> float:
    """Recompute the averaged model's batch-norm statistics on Training, save it; return its PublicTest accuracy."""
    from training.swa import recompute_batch_norm

    model = averager.model_with_average()
    recompute_batch_norm(model, train_images)
    model.compile(metrics=["accuracy"], loss="categorical_crossentropy")
    accuracy = float(model.evaluate(public_ds, verbose=0, return_dict=True)["accuracy"])
    model.save(destination)
    logger.info("SWA: %d epochs averaged, PublicTest accuracy %.4f -> %s", averager.count, accuracy, destination)
    return accuracy


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config, args = parse_args(argv)
    saved_config = Path(config.run_dir) / "config.json"
    if args.resume and saved_config.exists():
        known = set(TrainConfig.__dataclass_fields__)
        saved = {k: v for k, v in json.loads(saved_config.read_text()).items() if k in known}
        saved.update(widths=tuple(saved["widths"]), blocks_per_stage=tuple(saved["blocks_per_stage"]))
        config = TrainConfig(**saved)
        logger.info("resuming with the run's saved configuration from %s", saved_config)
    try:
        train(config, resume=args.resume, export=args.export)
    except ValueError as error:  # DatasetError and bad options: one clear line, non-zero exit
        logger.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

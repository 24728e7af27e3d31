"""Train a FER2013 model: ``python -m training.train --data ../shared/datasets/fer2013.zip --run-dir runs/main``.

Trains on Training, selects the checkpoint and stops early on PublicTest (PrivateTest is never read here),
checkpoints every epoch (``--resume`` continues from the last one), logs a CSV, and exports the best
checkpoint as a float32 ``.keras`` file for ``fer_core``.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import time
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import numpy as np

from training.command_line import recorded_command

logger = logging.getLogger("training.train")

SCHEDULES = ("cosine", "constant", "plateau")


@dataclass
class TrainConfig:
    """Everything that defines a training run (written to ``<run-dir>/config.json`` and the model card).

    Each field is a command-line option of ``python -m training.train``, ``--field-name`` (``build_parser``). Its
    metadata may give the option's ``help``, its ``choices``, another name (``flag``), and ``const``: the option
    then takes no value and sets the field to ``const`` (``--no-mixed-precision``).
    """

    data: str = field(
        default="../shared/datasets/fer2013.zip", metadata={"help": "Kaggle zip, its unpacked folder, or fer2013.csv"}
    )
    run_dir: str = field(default="runs/main", metadata={"help": "checkpoints, CSV log and config go here"})
    architecture: str = field(default="resnet", metadata={"choices": ("resnet", "vgg16", "resnet50v2")})
    widths: tuple[int, ...] = field(default=(32, 64, 128, 256), metadata={"help": "resnet: stem,stage1,..."})
    blocks_per_stage: tuple[int, ...] = field(
        default=(1, 1, 1), metadata={"help": "resnet blocks/stage", "flag": "--blocks"}
    )
    weights_path: str | None = field(
        default=None, metadata={"help": "vgg16/resnet50v2: local ImageNet *_notop.h5 file"}
    )
    init_from: str | None = field(
        default=None,
        metadata={
            "help": "warm start from this .keras model's weights (same architecture), e.g. a second cosine cycle"
        },
    )
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = field(
        default="adamw",
        metadata={
            "help": "AdamW (decoupled weight decay) or SGD with Nesterov momentum 0.9",
            "choices": ("adamw", "sgd"),
        },
    )
    learning_rate: float = 1e-3
    warmup_epochs: int = 1
    schedule: str = field(
        default="cosine",
        metadata={
            "help": "cosine (decays to 0), constant (after the warm-up; e.g. for weight averaging) or plateau",
            "choices": SCHEDULES,
        },
    )
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    class_weight: str = field(default="none", metadata={"choices": ("none", "balanced", "sqrt")})
    dropout: float = 0.3
    patience: int = field(default=20, metadata={"help": "early stopping on PublicTest"})
    seed: int = 1234
    mixed_precision: bool = field(
        default=True,
        metadata={"help": "train in float32 (default: bfloat16)", "flag": "--no-mixed-precision", "const": False},
    )
    threads: int = field(default=0, metadata={"help": "TensorFlow intra-op threads (0: all cores)"})
    limit: int = field(default=0, metadata={"help": "use only the first N images per split (smoke tests)"})
    cache_dir: str | None = field(
        default=None, metadata={"help": "where decoded arrays are cached (default ~/.cache/fer_app)"}
    )
    augment: dict = field(
        default_factory=dict,
        metadata={
            "help": "augmentation strengths that differ from training.augment.AugmentConfig's defaults, as "
            "name=value,... (e.g. erasing=0 turns random erasing off; gamma=0.3,noise=0.03,blur=0.3 adds the "
            "photometric ones)",
        },
    )
    swa_start: int = field(
        default=0,
        metadata={"help": "average the weights of every epoch from this one on (stochastic weight averaging); 0: off"},
    )
    distill_from: str | None = field(
        default=None,
        metadata={
            "help": "teacher .keras model, or several comma-separated (an ensemble, probabilities averaged): train "
            "towards its view-averaged probabilities (knowledge distillation)"
        },
    )
    distill_weight: float = field(
        default=0.5,
        metadata={"help": "share of the teacher's probabilities in the targets, the rest being the labels (0.5)"},
    )
    data_source: str = field(
        default="auto",
        metadata={
            "help": "batches from tf.data or a keras PyDataset (auto: tf.data on TensorFlow, else PyDataset, e.g. "
            "KERAS_BACKEND=jax on a GPU machine without TensorFlow)",
            "choices": ("auto", "tf.data", "pydataset"),
        },
    )
    distill_views: str = field(
        default="flip",
        metadata={
            "help": "test-time views the teacher's probabilities are averaged over (fer_core.recognition.views)",
            "choices": ("none", "flip", "zoom", "shift", "multi", "rotate", "all"),
        },
    )


def comma_separated_ints(text: str) -> tuple[int, ...]:
    """``"32,64,128"`` -> ``(32, 64, 128)`` (``--widths``, ``--blocks``)."""
    return tuple(int(value) for value in text.split(","))


def augment_strengths(text: str) -> dict[str, float]:
    """``"zoom=0.15,erasing=0"`` -> ``{"zoom": 0.15, "erasing": 0.0}`` (``--augment``); names of AugmentConfig."""
    from training.augment import AugmentConfig

    known = {item.name for item in fields(AugmentConfig)}
    strengths: dict[str, float] = {}
    for part in filter(None, text.split(",")):
        name, equals, value = part.partition("=")
        name = name.strip()
        if not equals or name not in known:
            raise argparse.ArgumentTypeError(f"{part!r}: expected name=value with a name among {sorted(known)}")
        try:
            strengths[name] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: {value!r} is not a number") from None
    try:
        AugmentConfig(**strengths)  # out-of-range strengths are refused here, not after the data has loaded
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return strengths


def option_flag(item: Field) -> str:
    """The command-line option of a ``TrainConfig`` field: its ``flag``, or ``--field-name``."""
    return item.metadata.get("flag", "--" + item.name.replace("_", "-"))


def value_parser(item: Field, hint: Any):
    """How the option of a field that takes a value reads it (None: kept as the string); TypeError if unknown."""
    if hint in (int, float):
        return hint
    if hint is str or set(get_args(hint)) == {str, type(None)}:
        return None
    if get_origin(hint) is tuple and get_args(hint) == (int, ...):
        return comma_separated_ints
    if hint is dict:
        return augment_strengths
    raise TypeError(f"TrainConfig.{item.name}: no command-line form for {hint}; give its option a 'const'")


def add_config_option(parser: argparse.ArgumentParser, item: Field, hint: Any, with_default: bool) -> None:
    """The option of one ``TrainConfig`` field; without its default, it only lands in the namespace when given."""
    flag = option_flag(item)
    default = argparse.SUPPRESS
    if with_default:
        default = item.default_factory() if item.default is MISSING else item.default
    settings = {"dest": item.name, "default": default, "help": item.metadata.get("help")}
    if "const" in item.metadata:
        parser.add_argument(flag, action="store_const", const=item.metadata["const"], **settings)
        return
    choices = item.metadata.get("choices")
    metavar = None if choices else flag.removeprefix("--").replace("-", "_").upper()
    parser.add_argument(flag, type=value_parser(item, hint), choices=choices, metavar=metavar, **settings)


def build_parser(with_defaults: bool = True) -> argparse.ArgumentParser:
    """The parser: one option for each ``TrainConfig`` field, then ``--resume``, ``--export`` and ``--time-budget``."""
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.splitlines()[0])
    hints = get_type_hints(TrainConfig)
    for item in fields(TrainConfig):
        add_config_option(parser, item, hints[item.name], with_defaults)
    parser.add_argument("--resume", action="store_true", help="continue from <run-dir>/last.keras")
    parser.add_argument("--export", default=None, help="copy the best checkpoint (float32) to this .keras path")
    parser.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after the epoch past which another would not fit in this many seconds (then --resume goes on; "
        "exit status 75, nothing exported)",
    )
    return parser


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, argparse.Namespace]:
    """The configuration that ``argv`` gives, and all the parsed options (``resume`` and ``export`` among them)."""
    args = build_parser().parse_args(argv)
    config = TrainConfig(**{item.name: copy.deepcopy(getattr(args, item.name)) for item in fields(TrainConfig)})
    return config, args


def given_options(argv: list[str]) -> dict[str, str]:
    """The ``TrainConfig`` fields that ``argv`` sets explicitly, with their options."""
    given = vars(build_parser(with_defaults=False).parse_args(argv))
    return {item.name: option_flag(item) for item in fields(TrainConfig) if item.name in given}


def config_from_record(record: dict[str, Any]) -> TrainConfig:
    """The ``TrainConfig`` that a run's ``config.json`` (or the model card) records; other keys are passed over.

    Fields added since the run was started get their defaults.
    """
    known = {item.name for item in fields(TrainConfig)}
    return TrainConfig(
        **{name: tuple(value) if isinstance(value, list) else value for name, value in record.items() if name in known}
    )


def resumed_config(config: TrainConfig, argv: list[str]) -> TrainConfig:
    """The run's saved configuration for ``--resume``, with a warning for each option in ``argv`` it overrides."""
    path = Path(config.run_dir) / "config.json"
    if not path.exists():
        return config
    saved = config_from_record(json.loads(path.read_text()))
    for name, flag in given_options(argv).items():
        if getattr(config, name) != getattr(saved, name):
            logger.warning(
                "--resume trains on with the run's saved configuration: ignoring %s (%s=%r; saved: %r)",
                flag,
                name,
                getattr(config, name),
                getattr(saved, name),
            )
    logger.info("resuming with the run's saved configuration from %s", path)
    return saved


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


@dataclass(frozen=True)
class RunFiles:
    """A run folder and the files that carry a run from one epoch (and one process) to the next."""

    folder: Path
    last: Path
    best: Path
    state: Path

    @classmethod
    def create(cls, folder: Path) -> RunFiles:
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder, folder / "last.keras", folder / "best.keras", folder / "state.json")


@dataclass(frozen=True)
class TrainingData:
    """Training and PublicTest prepared for the network; Training's targets are distilled when the run says so."""

    train_images: np.ndarray
    train_labels: np.ndarray
    train_targets: np.ndarray
    public_images: np.ndarray
    public_targets: np.ndarray


def set_up_keras(config: TrainConfig) -> None:
    """Threads, the global seed and the precision policy, before anything is built."""
    import keras

    if config.threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(config.threads)
    keras.utils.set_random_seed(config.seed)
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        _warn_if_bfloat16_is_slow_here(keras.backend.backend())
        if keras.backend.backend() == "tensorflow" and os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0":
            logger.warning(
                "TF_ENABLE_ONEDNN_OPTS=0 turns off oneDNN, and bfloat16 training on the CPU then runs several times "
                "slower (over 25 CPU-minutes for an epoch that takes about 5 with it): unset it, or train with "
                "--no-mixed-precision"
            )


def _warn_if_bfloat16_is_slow_here(backend: str) -> None:
    """On TensorFlow without a GPU, a CPU without native bfloat16 emulates it (:mod:`training.precision`)."""
    if backend != "tensorflow":
        return
    import tensorflow as tf

    from training.precision import slow_bfloat16_warning

    warning = None if tf.config.list_physical_devices("GPU") else slow_bfloat16_warning()
    if warning:
        logger.warning("%s", warning)


def one_hot(labels: np.ndarray) -> np.ndarray:
    import keras

    from fer_core.labels import NUM_CLASSES

    return keras.utils.to_categorical(labels, NUM_CLASSES).astype("float32")


def first_faces(split, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """A split's images and labels: all of them, or the first ``limit`` when it is set."""
    if not limit:
        return split.images, split.labels
    return split.images[:limit], split.labels[:limit]


def load_training_data(config: TrainConfig) -> TrainingData:
    """Training and PublicTest from ``config.data``: limited, prepared, one-hot or distilled targets."""
    from fer_core.recognition.preprocessing import prepare_faces
    from training.data import load_fer2013

    splits = load_fer2013(config.data, **({"cache_dir": config.cache_dir} if config.cache_dir else {}))
    train_split, public_split = splits["Training"], splits["PublicTest"]
    logger.info("Training class counts: %s", train_split.class_counts())
    logger.info("PublicTest class counts: %s", public_split.class_counts())
    train_images, train_labels = first_faces(train_split, config.limit)
    public_images, public_labels = first_faces(public_split, config.limit)
    train_images, public_images = prepare_faces(train_images), prepare_faces(public_images)
    train_targets = one_hot(train_labels)
    if config.distill_from:
        from training.data import DEFAULT_CACHE_DIR
        from training.distill import distillation_targets, teacher_paths

        train_targets = distillation_targets(
            teacher_paths(config.distill_from),
            train_images,
            train_targets,
            config.distill_weight,
            config.distill_views,
            cache_dir=config.cache_dir or DEFAULT_CACHE_DIR,
        )
    return TrainingData(train_images, train_labels, train_targets, public_images, one_hot(public_labels))


def training_pipelines(data: TrainingData, config: TrainConfig, seed: int):
    """The shuffled and augmented Training batches (both drawn from ``seed``) and the PublicTest batches
    (``tf.data`` or a ``PyDataset``: :mod:`training.batches`)."""
    from training.augment import AugmentConfig, build_augmenter, build_batch_mixer
    from training.batches import training_batches

    augment = AugmentConfig(**config.augment)
    return training_batches(
        (data.train_images, data.train_targets),
        (data.public_images, data.public_targets),
        batch_size=config.batch_size,
        augmenter=build_augmenter(augment, seed=seed),
        seed=seed,
        source=config.data_source,
        mixer=build_batch_mixer(augment, seed=seed),
    )


def resume_point(run: RunFiles, resume: bool) -> tuple[dict, int]:
    """The saved state and the epoch to go on from; ``({}, 0)`` for a fresh start."""
    from training.stages import read_json

    state = read_json(run.state) if resume else {}
    initial_epoch = int(state.get("epoch", 0)) if resume and run.last.exists() else 0
    if initial_epoch:
        return state, initial_epoch
    if resume:
        logger.warning("--resume given but %s does not exist: starting from scratch", run.last)
    return {}, 0


def resumed_model(run: RunFiles, initial_epoch: int, state: dict):
    """The last checkpoint, compiled with its optimiser state."""
    import keras

    model = keras.models.load_model(run.last)
    exclude_from_weight_decay(model.optimizer)  # not saved with the optimizer
    logger.info("resuming from %s at epoch %d (best PublicTest %.4f)", run.last, initial_epoch, state.get("best", 0.0))
    return model


def new_model(config: TrainConfig, steps_per_epoch: int):
    """The model of ``config``, warm-started from ``init_from`` if given, compiled."""
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
    compile_model(model, config, steps_per_epoch)
    return model


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int):
    """A warm-up to ``learning_rate``, then cosine decay to 0 or constant; 'plateau' starts from a plain number."""
    import keras

    if config.schedule not in ("cosine", "constant"):
        return config.learning_rate
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = min(steps_per_epoch * config.warmup_epochs, total_steps // 2)
    return keras.optimizers.schedules.CosineDecay(
        config.learning_rate * 0.1,
        max(total_steps - warmup_steps, 1),
        alpha=0.0 if config.schedule == "cosine" else 1.0,
        warmup_target=config.learning_rate,
        warmup_steps=warmup_steps,
    )


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    """AdamW (no weight decay on the biases) or SGD with Nesterov momentum, on the run's learning-rate schedule."""
    import keras

    learning_rate = learning_rate_schedule(config, steps_per_epoch)
    if config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=config.weight_decay)
        exclude_from_weight_decay(optimizer)
        return optimizer
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(
            learning_rate, momentum=0.9, nesterov=True, weight_decay=config.weight_decay or None
        )
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


def compile_model(model, config: TrainConfig, steps_per_epoch: int) -> None:
    import keras

    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )


def training_device() -> str:
    """What trains: the Keras backend and its first device, e.g. ``jax gpu (NVIDIA H100 80GB HBM3)``."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return f"jax {device.platform} ({device.device_kind})"
    if backend == "tensorflow":
        import tensorflow as tf

        return f"tensorflow {'gpu' if tf.config.list_physical_devices('GPU') else 'cpu'}"
    return backend


def write_run_config(run: RunFiles, config: TrainConfig, model, command: str | None) -> None:
    """``config.json``: the configuration, the data's SHA-256, the parameter count and the command line."""
    from training.data import source_fingerprint

    record = asdict(config)
    record["data_sha256"] = source_fingerprint(Path(config.data))
    record["params"] = int(model.count_params())
    record["trained_on"] = training_device()
    record["command"] = command
    (run.folder / "config.json").write_text(json.dumps(record, indent=2))


def state_saver(run: RunFiles, state: dict, averager):
    """A callback that saves ``last.keras`` and ``state.json`` (epoch, best PublicTest accuracy, minutes) each epoch."""
    import keras

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
            self.model.save(run.last)
            run.state.write_text(json.dumps(state, indent=2))
            self.started = time.time()

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.time()

    return SaveState()


def training_callbacks(config: TrainConfig, run: RunFiles, state: dict, averager, resume: bool) -> list:
    """Best checkpoint, CSV log, early stopping, weight averaging, state saving, and ReduceLROnPlateau for 'plateau'."""
    import keras

    callbacks = [
        keras.callbacks.ModelCheckpoint(
            run.best,
            monitor="val_accuracy",
            mode="max",
            save_best_only=True,
            initial_value_threshold=state.get("best"),
        ),
        keras.callbacks.CSVLogger(str(run.folder / "log.csv"), append=resume),
        keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=config.patience),
        *([averager] if averager is not None else []),
        state_saver(run, state, averager),
    ]
    if config.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", mode="max", factor=0.3, patience=4))
    return callbacks


def choose_and_export(
    config: TrainConfig, run: RunFiles, state: dict, averager, train_images: np.ndarray, public_ds, export: str | None
) -> dict:
    """Pick best.keras or the weight average, whichever scores higher on PublicTest; export it; return the summary."""
    summary = {
        "best_public_accuracy": state.get("best"),
        "best_epoch": state.get("best_epoch"),
        "epochs_run": state.get("epoch"),
        "wall_minutes": round(state.get("wall_minutes", 0.0), 1),
    }
    chosen = run.best
    if averager is not None and averager.count:
        averaged_accuracy = finish_weight_average(averager, train_images, public_ds, run.folder / AVERAGED_MODEL)
        state["swa_public_accuracy"] = averaged_accuracy
        summary.update(swa_epochs=averager.count, swa_public_accuracy=averaged_accuracy)
        if averaged_accuracy >= state.get("best", 0.0):
            chosen = run.folder / AVERAGED_MODEL
    summary["exported"] = str(chosen)
    state["selected"] = chosen.name
    run.state.write_text(json.dumps(state, indent=2))
    logger.info("done: %s", summary)
    if export:
        export_float32(chosen, Path(export), config)
    return summary


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    export: str | None = None,
    command: str | None = None,
    time_budget: float | None = None,
) -> dict:
    """Run one training; return a summary (best PublicTest accuracy, epochs, minutes).

    ``command`` is the command line that ``config.json`` records (``main`` passes its own; None from Python).
    ``time_budget`` (seconds from now): stop at the last epoch's end that fits (:mod:`training.time_budget`); a
    run stopped before its last epoch exports nothing and its summary has ``stopped_at_budget``.
    """
    started = time.monotonic()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if config.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {config.schedule!r}: choose one of {', '.join(SCHEDULES)}")
    run = RunFiles.create(Path(config.run_dir))
    set_up_keras(config)
    from training.time_budget import TimeBudget

    budget = TimeBudget(time_budget, started) if time_budget is not None else None
    data = load_training_data(config)
    state, initial_epoch = resume_point(run, resume)
    stream_seed = batch_stream_seed(config, initial_epoch)
    logger.info("shuffle and augmentation seed %d", stream_seed)
    train_ds, public_ds = training_pipelines(data, config, stream_seed)
    steps_per_epoch = int(np.ceil(len(data.train_images) / config.batch_size))
    if initial_epoch:
        model = resumed_model(run, initial_epoch, state)
    else:
        model = new_model(config, steps_per_epoch)
        write_run_config(run, config, model, command)
    logger.info("model %s: %d parameters, %d steps/epoch", model.name, model.count_params(), steps_per_epoch)
    averager = weight_averager(config, run.folder, state) if config.swa_start else None
    model.fit(
        train_ds,
        validation_data=public_ds,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        class_weight=class_weights(data.train_labels, config.class_weight),
        callbacks=[*training_callbacks(config, run, state, averager, resume), *([budget] if budget else [])],
        verbose=1 if sys.stdout.isatty() else 2,
    )
    if budget is not None and budget.stopped_after is not None and budget.stopped_after < config.epochs:
        logger.warning("stopped at the time budget, epoch %d of %d: nothing exported", state["epoch"], config.epochs)
        return {"stopped_at_budget": True, "epochs_run": state.get("epoch"), "best_public_accuracy": state.get("best")}
    return choose_and_export(config, run, state, averager, data.train_images, public_ds, export)


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
    argv = sys.argv[1:] if argv is None else list(argv)
    config, args = parse_args(argv)
    if args.resume:
        config = resumed_config(config, argv)
    try:
        summary = train(
            config,
            resume=args.resume,
            export=args.export,
            command=recorded_command("training.train", argv),
            time_budget=args.time_budget,
        )
    except ValueError as error:  # DatasetError and bad options: one clear line, non-zero exit
        logger.error("%s", error)
        return 2
    from training.time_budget import STOPPED_AT_BUDGET

    return STOPPED_AT_BUDGET if summary.get("stopped_at_budget") else 0


if __name__ == "__main__":
    raise SystemExit(main())

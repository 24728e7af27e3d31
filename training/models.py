"""Model builders: a from-scratch residual CNN (the default) and transfer-learning backbones.

All models are Keras functional models taking (48, 48, 1) inputs in [0, 1] and returning 7 softmax
probabilities in FER2013 order (the softmax is float32 even under a mixed-precision policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras

from fer_core.labels import NUM_CLASSES
from fer_core.recognition.preprocessing import INPUT_SIZE


@dataclass(frozen=True)
class CNNConfig:
    """Shape of the from-scratch residual CNN."""

    widths: tuple[int, ...] = (32, 64, 128, 256)
    """Channels of the stem (first entry, at full resolution) and of each downsampling stage."""
    blocks_per_stage: tuple[int, ...] = (1, 1, 1)
    dropout: float = 0.3
    weight_decay: float = 0.0
    """L2 on conv/dense kernels; the optimiser's decoupled weight decay is usually preferred."""
    bn_momentum: float = 0.9
    """BatchNormalization moving-average momentum (0.9 tracks the weights closely enough to select on PublicTest)."""


def _conv_bn_relu(x, filters: int, stride: int, name: str, weight_decay: float, bn_momentum: float = 0.9):
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
    x = keras.layers.Conv2D(
        filters, 3, strides=stride, padding="same", use_bias=False, kernel_regularizer=regularizer, name=f"{name}_conv"
    )(x)
    x = keras.layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _residual_block(x, filters: int, stride: int, name: str, weight_decay: float, bn_momentum: float = 0.9):
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
    shortcut = x
    y = _conv_bn_relu(x, filters, stride, f"{name}_a", weight_decay, bn_momentum)
    y = keras.layers.Conv2D(
        filters, 3, padding="same", use_bias=False, kernel_regularizer=regularizer, name=f"{name}_b_conv"
    )(y)
    y = keras.layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_b_bn")(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(
            filters, 1, strides=stride, use_bias=False, kernel_regularizer=regularizer, name=f"{name}_proj_conv"
        )(shortcut)
        shortcut = keras.layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_proj_bn")(shortcut)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def build_residual_cnn(config: CNNConfig = CNNConfig(), name: str = "fer_resnet") -> keras.Model:
    """Small ResNet of plain 3x3 convolutions: stem at 48x48, then stages at 24, 12 and 6 pixels."""
    if len(config.widths) != len(config.blocks_per_stage) + 1:
        raise ValueError("widths needs one entry for the stem plus one per stage in blocks_per_stage")
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="face")
    x = _conv_bn_relu(inputs, config.widths[0], 1, "stem1", config.weight_decay, config.bn_momentum)
    x = _conv_bn_relu(x, config.widths[0], 1, "stem2", config.weight_decay, config.bn_momentum)
    for stage, (filters, blocks) in enumerate(zip(config.widths[1:], config.blocks_per_stage, strict=True), start=1):
        for block in range(blocks):
            stride = 2 if block == 0 else 1
            x = _residual_block(
                x, filters, stride, f"stage{stage}_block{block}", config.weight_decay, config.bn_momentum
            )
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(config.dropout, name="dropout")(x)
    logits = keras.layers.Dense(NUM_CLASSES, name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name=name)


TRANSFER_BACKBONES = ("vgg16", "resnet50v2")


def build_transfer_model(
    backbone: str,
    *,
    weights_path: str | Path | None = None,
    input_size: int = 96,
    dropout: float = 0.3,
    trainable: bool = False,
) -> keras.Model:
    """An ImageNet backbone (VGG16 or ResNet50V2) on 48x48x1 faces, upsized to ``input_size`` RGB.

    ImageNet weights cannot be downloaded here: pass ``weights_path`` (a local ``*_notop.h5`` file as Keras
    publishes it), or ``None`` for random weights (for tests).
    """
    if backbone not in TRANSFER_BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose from {TRANSFER_BACKBONES}")
    if weights_path is not None and not Path(weights_path).is_file():
        raise ValueError(f"ImageNet weights file not found: {weights_path}")
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="face")
    x = keras.layers.Resizing(input_size, input_size, name="upsize")(inputs)
    x = keras.layers.Concatenate(name="to_rgb")([x, x, x])
    x = keras.layers.Rescaling(255.0, name="to_255")(x)
    if backbone == "vgg16":
        # keras.applications.vgg16.preprocess_input ("caffe" mode) for a grey image: BGR order is moot,
        # subtract the ImageNet channel means. A Normalization layer keeps the model serialisable.
        x = keras.layers.Normalization(
            mean=[103.939, 116.779, 123.68], variance=[1.0, 1.0, 1.0], name="vgg_preprocess"
        )(x)
        base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(input_size, input_size, 3))
    else:
        x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="resnet_preprocess")(x)
        base = keras.applications.ResNet50V2(include_top=False, weights=None, input_shape=(input_size, input_size, 3))
    if weights_path is not None:
        base.load_weights(str(weights_path))
    base.trainable = trainable
    x = base(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(NUM_CLASSES, name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name=f"fer_{backbone}")

"""Published results on the same data, as data: the chapter "Aller plus loin" sets ours beside them.

Each figure is copied from its source, named with the setting it was obtained in, and
checked against the source where it could be read here (`checked`): the Fashion-MNIST
README's benchmark table (zalandoresearch/fashion-mnist, commit b2617bb) and the
docstring of Keras' `examples/cifar10_cnn.py` (Keras 2), and the README and `airbench94.py` of
KellerJordan/cifar10-airbench (commit 01a2367 of the script). Only figures read in their source
are listed (an order of magnitude often quoted for VGG networks, which no source here confirms,
left the table).

Imports from lab: nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    dataset: str
    model: str  # in French, as the book shows it
    accuracy: float
    setting: str  # data, epochs, augmentation, as the source states them
    source: str
    checked: bool  # read in the source itself
    epochs: float | None = None  # where the source states them


# As the book's table shows them: where a reader finds each figure (the commits read are in the docstring)
FASHION_README = "github.com/zalandoresearch/fashion-mnist (README)"
KERAS_EXAMPLE = "github.com/keras-team/keras (Keras 2, cifar10_cnn.py)"
AIRBENCH = "github.com/KellerJordan/cifar10-airbench"

REFERENCES = (
    # The best two-convolution row of the table (the weaker ones, 93,2 to 93,4 %, are left out)
    Reference("fashion_mnist", "2 conv + 2 denses", 0.939, "augmentation (miroirs)", FASHION_README, checked=True),
    # The strongest rows of the same table: a DenseNet of about our size, and a MobileNet whose size it does not give
    Reference("fashion_mnist", "DenseNet-BC (768 k paramètres)", 0.954,
              "normalisation, augmentation (recadrages, miroir)", FASHION_README, checked=True),
    Reference("fashion_mnist", "MobileNet", 0.950, "augmentation (miroir)", FASHION_README, checked=True),
    # Keras' own small network (the docstring also gives 75 % after 25 epochs)
    Reference("cifar10", "CNN « simple » de Keras (4 conv, 2 poolings)", 0.79,
              "CIFAR-10 d'origine, 50 époques, miroir, translations", KERAS_EXAMPLE, checked=True,
              epochs=50),
    # A network that trains CIFAR-10 fast on a GPU, with its own training recipe
    Reference("cifar10", "airbench94 (blocs de 64, 256, 256 filtres)", 0.9401,
              "CIFAR-10 d'origine, 9,9 époques, miroir, translations, plusieurs vues",
              AIRBENCH, checked=True, epochs=9.9),
)  # fmt: skip


def for_dataset(dataset: str) -> list[Reference]:
    return [reference for reference in REFERENCES if reference.dataset == dataset]

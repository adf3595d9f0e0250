"""Lesson 03: Neural-Backed Decision Trees (Wan et al., 2021) with the ``nbdt`` library (method).

An NBDT keeps a network's features and replaces its final linear layer by a tree. Every inner
node ``n`` decides between its children; child ``k``'s score is the mean of the logits of the
classes (leaves) under it, which is the same as using the *average of those classes' weight
vectors*:

    score_k(x) = mean_{c in leaves(k)} (w_c . f(x) + b_c) = w_k . f(x) + b_k,
    w_k = mean_{c in leaves(k)} w_c.

A hard NBDT follows the most probable child (softmax over the children's scores) from the root
to a leaf; a soft NBDT multiplies the probabilities along every path and picks the most likely
leaf. The hierarchy is *induced* from the classifier's weights (agglomerative clustering of the
rows of ``W``), and its inner nodes are named by :mod:`.naming`.

Because a child's score is linear in the pooled features, it has a Class Activation Map of its
own: with ``F`` the last feature maps (``C x h x w``),

    M_k = sum_j w_kj F_j,   mean(M_k) + b_k = score_k,

so :func:`node_activation_maps` shows where each decision on the path looked.

Three NBDTs are available through :func:`load_nbdt` (the registry :data:`NBDTS`): ``"fashion"``
(ships with the package), ``"cifar10"`` (the 2020 tutorial's, once fetched) and ``"imagenet"``
(the bundled EfficientNet-Lite0 read as a tree, NOT trained for trees).

The modules, one job each:

* :mod:`.hierarchy`: reading nbdt's graph files (:class:`Hierarchy`), WordNet look-ups,
  inducing, naming and writing hierarchies (scripts);
* :mod:`.explanation`: :class:`Decision` and :class:`Explanation` from nbdt's rules;
* :mod:`.node_maps`: :class:`NodeMap` and the averaged rows behind it;
* :mod:`.display`: the picture the network sees (un-normalized input);
* :mod:`.explainer`: :class:`NBDTExplainer`, the inputs' one edge and the forward passes;
* :mod:`.registry`: the networks, preprocessing, checkpoints and :func:`load_nbdt`;
* :mod:`.lesson`: notebook 03's helpers;
* :mod:`.compat`, :mod:`.naming`, :mod:`.training`: nbdt's patches, node names, offline training
  (also importable by their old names ``xai_tutorial.nbdt_compat``, ``nbdt_naming``,
  ``nbdt_training``).

Figures live in :mod:`xai_tutorial.decision_trees_view`, the upload widget in
:mod:`xai_tutorial.decision_trees_widgets`.
"""

from __future__ import annotations

from . import compat
from .display import unnormalize
from .explainer import NBDTExplainer, NodeScore, checked_input
from .explanation import Decision, Explanation
from .hierarchy import (
    Hierarchy,
    induce_hierarchy,
    package_data,
    read_hierarchy,
    read_labels,
    rename_hierarchy,
    synset_wnid,
    wnid_synset,
    write_hierarchy,
)
from .lesson import (
    agreement_with_network,
    metrics_table,
    node_activation_maps,
    node_scores,
    photo_variants,
)
from .node_maps import NodeMap, NodeRows, PathRows, PathStep
from .registry import (
    CIFAR10_ARCH,
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    FASHION_CLASSES,
    FASHION_MEAN,
    FASHION_STD,
    FASHION_SYNSETS,
    IMAGENET_WNIDS_FILE,
    NBDT_DESCRIPTIONS,
    NBDTS,
    FashionCNN,
    cifar_preprocess,
    default_nbdt_name,
    fashion_preprocess,
    imagenet_wnids,
    load_cifar10_checkpoint,
    load_fashion_network,
    load_nbdt,
    shipped_metrics,
)

__all__ = [
    "CIFAR10_ARCH", "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "FASHION_CLASSES",
    "FASHION_MEAN", "FASHION_STD", "FASHION_SYNSETS", "IMAGENET_WNIDS_FILE", "NBDTS",
    "NBDT_DESCRIPTIONS", "Decision", "Explanation", "FashionCNN", "Hierarchy", "NBDTExplainer",
    "NodeMap", "NodeRows", "NodeScore", "PathRows", "PathStep", "agreement_with_network",
    "checked_input", "cifar_preprocess", "compat", "default_nbdt_name", "fashion_preprocess",
    "imagenet_wnids", "induce_hierarchy", "load_cifar10_checkpoint", "load_fashion_network",
    "load_nbdt", "metrics_table", "node_activation_maps", "node_scores", "package_data",
    "photo_variants", "read_hierarchy", "read_labels", "rename_hierarchy", "shipped_metrics",
    "synset_wnid", "unnormalize", "wnid_synset", "write_hierarchy",
]

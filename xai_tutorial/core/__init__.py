"""The core under the lessons: what every lesson, the CLI and the widgets share.

* :mod:`~xai_tutorial.core.errors`: the one family of user-facing errors (:class:`TutorialError`);
* :mod:`~xai_tutorial.core.inputs`: one check per concept (class, alpha, scale, ``k``, batch);
* :mod:`~xai_tutorial.core.images`: any photo source in, one checked RGB image out (decoders
  from an allow-list only); :mod:`~xai_tutorial.core.samples` (the bundled photos) and
  :mod:`~xai_tutorial.core.sources` (a URL within one deadline, a regular file within a cap);
* :mod:`~xai_tutorial.core.downloads`: the one explicit download step, verified and atomic, and
  :mod:`~xai_tutorial.core.checkpoints` (records and checkpoints read safely, keys and shapes
  checked);
* :mod:`~xai_tutorial.core._files` (atomic, verified, signal-safe writes; escaped paths) and
  :mod:`~xai_tutorial.core._network` (redaction, one request deadline, short reasons);
* :mod:`~xai_tutorial.core.hooks`: hooks, eval mode, layer lookup and the identity tolerance;
* :mod:`~xai_tutorial.core.heatmap` (+ :mod:`~xai_tutorial.core.colormaps`): the heatmap chain;
* :mod:`~xai_tutorial.core.saliency`: the registry and contract of saliency methods.

The core imports no lesson module (a test reads the sources and says so). Importing this package
imports none of its modules.
"""

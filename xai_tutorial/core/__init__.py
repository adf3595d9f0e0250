"""The core under the lessons: what every lesson, the CLI and the widgets share.

* :mod:`~xai_tutorial.core.errors`: the one family of user-facing errors (:class:`TutorialError`);
* :mod:`~xai_tutorial.core.inputs`: one check per concept (class, alpha, scale, ``k``, batch);
* :mod:`~xai_tutorial.core.images`: any photo source in, one checked RGB image out;
* :mod:`~xai_tutorial.core.downloads`: the one explicit download step, verified and atomic;
* :mod:`~xai_tutorial.core.hooks`: hooks, eval mode, layer lookup and the identity tolerance;
* :mod:`~xai_tutorial.core.heatmap` (+ :mod:`~xai_tutorial.core.colormaps`): the heatmap chain;
* :mod:`~xai_tutorial.core.saliency`: the registry and contract of saliency methods.

The core imports no lesson module (a test reads the sources and says so). Importing this package
imports none of its modules.
"""

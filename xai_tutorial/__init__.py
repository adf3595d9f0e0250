"""xai_tutorial: the companion package of a JupyterLab series on explaining image classifiers.

Lessons: 00 setup (:mod:`~xai_tutorial.downloads`, :mod:`~xai_tutorial.setup_check`),
01 classification (:mod:`~xai_tutorial.classification`, :mod:`~xai_tutorial.images`),
02 Class Activation Maps, 03 Neural-Backed Decision Trees.

Importing the package never touches the network.
"""

from .classification import Classifier, Prediction, imagenet_categories, load_classifier
from .downloads import CacheError, DownloadError, fetch
from .images import SAMPLES, ImageLoadError, load_image, sample_image

__version__ = "0.1.0"

__all__ = [
    "SAMPLES",
    "CacheError",
    "Classifier",
    "DownloadError",
    "ImageLoadError",
    "Prediction",
    "fetch",
    "imagenet_categories",
    "load_classifier",
    "load_image",
    "sample_image",
]

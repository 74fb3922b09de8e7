"""Input validation for the playground's estimators, done by scikit-learn's own helpers.

One rule for every density estimator (``density.Histogram``, ``GaussianMLE``,
``KernelDensity``, ``mixture.GaussianMixture``):

- ``fit`` records ``n_features_in_`` (and ``feature_names_in_`` for a DataFrame);
  every later call checks it, with scikit-learn's message ("X has 3 features, but
  KernelDensity is expecting 2 features as input.").
- Complex, sparse, empty (0 rows or 0 columns), NaN/inf and object input is refused
  by ``sklearn.utils.validation.validate_data`` with scikit-learn's errors.
- A 1D array is one feature (the convention of NumPy and SciPy for samples of a 1D
  density, which the pages use), in ``fit`` and for an estimator fitted on one
  feature. Given to an estimator fitted on several features, a 1D array is refused
  with scikit-learn's "Reshape your data" message instead of being read as several
  one-feature points. (So scikit-learn's ``check_fit1d``, which wants 1D input to
  fail in ``fit``, is an expected failure; see ``tests/test_sklearn_checks.py``.)
- An unfitted estimator raises ``sklearn.exceptions.NotFittedError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import sparse
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["check_X", "check_is_fitted"]

RESHAPE_MESSAGE = (
    "Expected 2D array, got 1D array instead:\narray={array}.\n"
    "Reshape your data either using array.reshape(-1, 1) if your data has a single feature "
    "or array.reshape(1, -1) if it contains a single sample."
)


def _is_one_dimensional(X: Any) -> bool:
    if sparse.issparse(X) or hasattr(X, "columns"):
        return False
    try:
        return np.ndim(X) == 1
    except Exception:  # ragged lists and the like: validate_data gives the message
        return False


def check_X(estimator: Any, X: Any, *, reset: bool) -> np.ndarray:
    """Validate X for ``estimator`` as scikit-learn does; returns a float64 ``(n, d)`` array.

    ``reset=True`` (in ``fit``) records the number of features; ``reset=False`` checks it
    (and that the estimator is fitted).
    """
    if not reset:
        check_is_fitted(estimator)
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if _is_one_dimensional(X):
        if not reset and getattr(estimator, "n_features_in_", 1) != 1:
            raise ValueError(RESHAPE_MESSAGE.format(array=np.asarray(X)))
        X = np.asarray(X).reshape(-1, 1)
    X = validate_data(estimator, X, reset=reset, dtype=np.float64)
    return X if X.flags.writeable else np.array(X)  # torch tensors need writable memory

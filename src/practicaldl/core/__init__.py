"""The course's math, in its notation and layout (X is (n_x, m), columns are examples).

Pure functions over NumPy arrays: no printing, no files, no global random generator.
``activations``, ``losses``, ``initializers``, ``regularization``, ``dropout``, ``network``
(initialize / forward / cost / backward), ``randomness`` and ``validation``.
"""

"""Build the Cython extensions of ``cryptobot.hotpath``.

Everything else about the package lives in pyproject.toml.  Two environment
variables change the build:

``CRYPTOBOT_DEBUG=1``
    turn bounds checks, wraparound and None checks back on, for tests that
    hunt memory errors;
``CRYPTOBOT_ANNOTATE=1``
    write the annotated HTML next to each ``.pyx`` to show where the
    generated C still calls into the Python C API.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("CRYPTOBOT_DEBUG") == "1"
ANNOTATE = os.environ.get("CRYPTOBOT_ANNOTATE") == "1"

# One table of compiler directives, each with its reason.
DIRECTIVES = {
    "language_level": 3,
    # Index checks are done once at the API boundary; the per-update loops
    # run on indices the code has already validated.
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "nonecheck": DEBUG,
    "initializedcheck": DEBUG,
    # C division: no ZeroDivisionError checks in the indicator loops, whose
    # divisors are window lengths and guarded sums.
    "cdivision": True,
    # Keep Python-visible signatures for introspection and the .pyi stubs.
    "embedsignature": True,
    "binding": False,
}

MACROS = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
# No fused multiply-add contraction: the indicators' streaming and batch forms
# must round identically wherever the compiler inlines them, and the
# recursions (EMA, RSI, ATR, MACD) must round as TA-Lib's C code does.
COMPILE_ARGS = ["-O3" if not DEBUG else "-O0", "-ffp-contract=off"] + (["-g"] if DEBUG else [])

here = Path(__file__).parent


def package_include_path() -> str:
    """Return a folder where ``cryptobot/`` resolves to this repository.

    Cython looks up ``cimport cryptobot.hotpath.x`` as
    ``cryptobot/hotpath/x.pxd`` on its include path, but the repository root
    *is* the package, so the source tree has no ``cryptobot/`` folder.  A
    symlink in a temporary folder (outside the tree, so nothing walks into a
    loop) supplies it for the length of the build.
    """
    folder = Path(tempfile.mkdtemp(prefix="cryptobot-cython-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    (folder / "cryptobot").symlink_to(here.resolve(), target_is_directory=True)
    return str(folder)


extensions = [
    Extension(
        f"cryptobot.hotpath.{pyx.stem}",
        [str(pyx.relative_to(here))],
        include_dirs=[numpy.get_include()],
        define_macros=MACROS,
        extra_compile_args=COMPILE_ARGS,
    )
    for pyx in sorted((here / "hotpath").glob("*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=DIRECTIVES,
        include_path=[package_include_path()],
        annotate=ANNOTATE,
        # Cythonize skips .c files newer than their sources, which would
        # leave the annotated HTML unwritten.
        force=ANNOTATE,
    ),
)

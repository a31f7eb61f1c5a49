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

import os
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
COMPILE_ARGS = ["-O3"] if not DEBUG else ["-O0", "-g"]

here = Path(__file__).parent

# The repository root is the package ``cryptobot`` whatever its folder is
# called, so ``cimport cryptobot.hotpath.<module>`` (one extension using
# another's C API) resolves through a link named ``cryptobot`` in a
# build-only include folder.
CIMPORT_ROOT = here / "build" / "cimport"
CIMPORT_ROOT.mkdir(parents=True, exist_ok=True)
_package_link = CIMPORT_ROOT / "cryptobot"
if _package_link.is_symlink() and _package_link.resolve() != here.resolve():
    _package_link.unlink()  # left by a checkout that has since moved
if not _package_link.is_symlink():
    _package_link.symlink_to(here.resolve(), target_is_directory=True)

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
        annotate=ANNOTATE,
        include_path=[str(CIMPORT_ROOT)],
    ),
)

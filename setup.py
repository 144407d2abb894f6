"""The C engine, built from the package's own sources with gcc and the Python headers."""
from glob import glob

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "rxtune.engine._engine",
            sources=sorted(glob("src/rxtune/engine/csrc/*.c")),
            depends=sorted(glob("src/rxtune/engine/csrc/*.h")),
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
        )
    ],
)

"""setuptools hook for the cffi extension; everything else is in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["realnuma/_build.py:ffibuilder"])

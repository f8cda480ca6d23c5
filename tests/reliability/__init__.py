"""Reliability suite (issue 8): auth on every endpoint, fuzzed requests and configuration,
faults (hub, stubborn kernel, full disk, clock jumps) and load.

A package, so that its conftest does not take the place of ``tests/conftest.py`` as the
module ``conftest`` that other test modules import helpers from.
"""

"""pytest plugin: point Captum's public attribution names at insight_widget's engine.

Loaded by ``scripts/captum_suite.py`` (``pytest -p captum_redirect``) before any test module is
imported. Every module under ``captum.attr`` and ``captum.metrics`` is imported, and each
attribute whose name is one of ``insight_widget.attr`` / ``insight_widget.metrics`` public
names is replaced by ours. Test files, and Captum's own ``captum.testing`` configurations that
import those names, then build our classes, so Captum's tests exercise our engine with only
their imports redirected. Captum's private helpers (``captum._utils``) stay Captum's.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import types


def _public_names(module: types.ModuleType) -> dict[str, object]:
    return {name: getattr(module, name) for name in getattr(module, "__all__", [])}


def _redirect() -> int:
    import captum.attr
    import captum.metrics

    import insight_widget.attr as ours_attr
    import insight_widget.metrics as ours_metrics

    ours: dict[str, object] = {}
    ours.update(_public_names(ours_metrics))
    ours.update(_public_names(ours_attr))
    replaced = 0
    for package in (captum.attr, captum.metrics):
        modules = [package]
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            try:
                modules.append(importlib.import_module(info.name))
            except Exception:  # optional dependencies of Captum's (e.g. LLM extras)
                continue
        for module in modules:
            for name, value in ours.items():
                if name in vars(module) and vars(module)[name] is not value:
                    setattr(module, name, value)
                    replaced += 1
    return replaced


def _free_port_for_process_groups() -> None:
    """Captum's data-parallel test pins MASTER_PORT 29500; concurrent runs would collide."""
    import socket

    import torch.distributed as dist

    original = dist.init_process_group

    def init_on_a_free_port(*args, **kwargs):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            os.environ["MASTER_PORT"] = str(probe.getsockname()[1])
        return original(*args, **kwargs)

    dist.init_process_group = init_on_a_free_port


NAMED_ERRORS = (ValueError, TypeError)


def _named_errors_count_as_assertions() -> None:
    """Where Captum's tests expect an ``AssertionError`` (Captum checks arguments with
    ``assert``), our engine raises a ``ValueError``/``TypeError`` naming the argument; the
    project counts that as compatible (README, "Deliberate differences"), so such tests accept
    either. Only ``assertRaises(AssertionError)`` is widened; every other expectation is kept."""
    import unittest

    original = unittest.TestCase.assertRaises

    def assert_raises(self, expected_exception, *args, **kwargs):
        expected = (expected_exception if isinstance(expected_exception, tuple)
                    else (expected_exception,))
        if AssertionError in expected:
            expected = (*expected, *NAMED_ERRORS)
        return original(self, expected, *args, **kwargs)

    unittest.TestCase.assertRaises = assert_raises


def _undecorated_attribute_functions() -> None:
    """Captum wraps every ``attribute`` in a logging decorator, and some of its tests read the
    undecorated function through ``attribute.__wrapped__`` (``inspect.getfullargspec``). Ours
    are not decorated: give each public class's ``attribute`` a ``__wrapped__`` copy of itself
    (a copy, not itself, so ``inspect.unwrap`` sees no loop). Only this test process sees it."""
    import inspect

    import insight_widget.attr as ours_attr

    for name in ours_attr.__all__:
        cls = getattr(ours_attr, name)
        function = inspect.getattr_static(cls, "attribute", None) if inspect.isclass(cls) else None
        if not inspect.isfunction(function) or hasattr(function, "__wrapped__"):
            continue
        copy = types.FunctionType(function.__code__, function.__globals__, function.__name__,
                                  function.__defaults__, function.__closure__)
        copy.__kwdefaults__ = function.__kwdefaults__
        function.__wrapped__ = copy


def pytest_configure(config) -> None:
    _free_port_for_process_groups()
    if os.environ.get("CAPTUM_SUITE_ORACLE") == "1":
        return
    _named_errors_count_as_assertions()
    _undecorated_attribute_functions()
    replaced = _redirect()
    config._captum_redirected = replaced


def pytest_report_header(config) -> str:
    if os.environ.get("CAPTUM_SUITE_ORACLE") == "1":
        return "captum suite: running against captum itself (oracle)"
    return f"captum suite: {getattr(config, '_captum_redirected', 0)} names redirected to ours"

"""How a plain ``for`` loop over a progress bar ended, when Python does not say.

A generator closed before its end cannot tell a ``break`` from an exception passing through
the loop: Python gives it ``GeneratorExit`` either way, with no sight of the exception.
``with progress(...)`` knows (its ``__exit__`` gets the exception), so this module only
settles plain loops, where the outcome becomes visible:

- in IPython (a Jupyter kernel), when the cell ends: its result carries the exception, so the
  bar ends ``error`` with the message, or ``done``;
- elsewhere, the bar ends ``done`` at once, and an exception that reaches the top level
  (``sys.excepthook``) turns it to ``error``.
"""

from __future__ import annotations

import sys
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .progress import Bar

__all__ = ["describe", "stopped_early"]

_pending_cell: list[Bar] = []
_recently_stopped: deque[Bar] = deque(maxlen=64)
_hooks_installed = False


def describe(error: BaseException) -> str:
    """``"ValueError: message"`` (or just the type when there is no message)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def stopped_early(bar: Bar) -> None:
    """Settle the end of ``bar``, whose plain ``for`` loop stopped before the iterable did."""
    global _hooks_installed
    shell = _ipython()
    if not _hooks_installed:
        _hooks_installed = True
        if shell is not None:
            shell.events.register("post_run_cell", _settle_cell)
        else:
            previous = sys.excepthook

            def excepthook(kind: Any, error: Any, tb: Any) -> None:
                for stopped in list(_recently_stopped):
                    stopped._end("error", describe(error), force=True)
                previous(kind, error, tb)

            sys.excepthook = excepthook
    if shell is not None:
        _pending_cell.append(bar)
    else:
        bar._end("done")
        _recently_stopped.append(bar)


def _settle_cell(result: Any) -> None:
    error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
    while _pending_cell:
        bar = _pending_cell.pop()
        if error is not None:
            bar._end("error", describe(error))
        else:
            bar._end("done")


def _ipython() -> Any:
    module = sys.modules.get("IPython")
    shell = getattr(module, "get_ipython", lambda: None)() if module is not None else None
    return shell if shell is not None and hasattr(shell, "events") else None

"""Name arguments of the `lupus` commands, checked by the rules every other front door uses.

A bad name (``dsa\\n``, a control character, a name too long) is a usage error naming the
argument, before anything is read or written.

Example:
    >>> check_datasource(None, None, "service1-recommend")
    'service1-recommend'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.names import validate_account_name, validate_datasource


def _checked(rule: Callable[[str], str]) -> Callable[..., Any]:
    def callback(_ctx: Any, _param: Any, value: Any) -> Any:
        if value is None:
            return None
        try:
            return [rule(v) for v in value] if isinstance(value, (list, tuple)) else rule(value)
        except LupusValidationError as err:
            raise typer.BadParameter(str(err)) from None

    return callback


check_datasource = _checked(validate_datasource)
check_team = _checked(lambda v: validate_account_name(v, field="team"))
check_user = _checked(lambda v: validate_account_name(v, field="username"))
check_token_name = _checked(lambda v: validate_account_name(v, field="name"))

"""Mirror a page's controls in the URL so a link reopens the same view.

Use ``linked(st.slider, "Bandwidth", key="h", default=0.5, min_value=0.01, max_value=3.0)``
instead of ``st.slider(...)``. On a page's first run the value comes from the URL
when it is valid (else the default, with a notice); afterwards the widget owns it and
every change is written back to ``st.query_params``.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlencode

import streamlit as st

LINK_SLOT_KEY = "_deeplink_slot"
PERSIST_PREFIX = "_persist_"
OWNER_KEY = "_deeplink_owners"  # control key -> the page that last drew it


def _current_page() -> str:
    """The running page's script hash ("" outside a script run)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.page_script_hash if ctx is not None else ""


def _parse(raw: str, default: Any, kwargs: dict[str, Any]) -> Any:
    """Turn a query-string value into the widget's type, or raise ValueError."""
    options = kwargs.get("options")
    if options is not None:
        options = list(options)
        if isinstance(default, (list, tuple)) and not isinstance(default, str):  # multiselect
            chosen = [part for part in raw.split(",") if part]
            by_text = {str(o): o for o in options}
            if not all(part in by_text for part in chosen):
                raise ValueError(f"{raw!r} is not among the options")
            return [by_text[part] for part in chosen]
        for option in options:
            if str(option) == raw:
                return option
        raise ValueError(f"{raw!r} is not one of {', '.join(map(str, options))}")
    if isinstance(default, bool):
        lowered = raw.lower()
        if lowered in ("1", "true", "on", "yes"):
            return True
        if lowered in ("0", "false", "off", "no"):
            return False
        raise ValueError(f"{raw!r} is not true/false")
    if isinstance(default, (tuple, list)):
        parts = raw.split(",")
        if len(parts) != len(default):
            raise ValueError(f"{raw!r} needs {len(default)} comma-separated values")
        value = tuple(_parse(part, item, {}) for part, item in zip(parts, default))
        for item in value:
            _check_range(item, kwargs)
        return value
    if isinstance(default, int):
        value = int(raw)
    elif isinstance(default, float):
        value = float(raw)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{raw!r} is not a finite number")
    else:
        value = raw
    _check_range(value, kwargs)
    return value


def _check_range(value: Any, kwargs: dict[str, Any]) -> None:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and value < low:
        raise ValueError(f"{value} is below the minimum {low}")
    if high is not None and value > high:
        raise ValueError(f"{value} is above the maximum {high}")


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return ",".join(_format(v) for v in value)
    return str(value)


def linked(widget: Callable[..., Any], label: str, *, key: str, default: Any, persist: bool = False,
           **kwargs: Any) -> Any:
    """Create ``widget`` whose value is mirrored in the URL under ``key``.

    ``persist=True`` keeps the value when the user moves to another page (used for
    the global seed and projection mode).
    """
    state = st.session_state
    owners = state.setdefault(OWNER_KEY, {})
    page = _current_page()
    if owners.get(key, page) != page:
        # The key was last drawn by another page. Streamlit gives a widget on each page its
        # own identity, so that value would not reach this page's widget (a persisted seed
        # or projection mode would fall back to the default), and a short key such as "n"
        # or "lr" means something else on another page anyway: start again from the
        # persisted value, the link or the default.
        state.pop(key, None)
    owners[key] = page
    if key not in state:
        value = state.get(PERSIST_PREFIX + key, default) if persist else default
        raw = st.query_params.get(key)
        if raw is not None:
            try:
                value = _parse(raw, default, kwargs)
            except (ValueError, TypeError) as error:
                st.warning(f"The link's value for **{label}** ({error}) was ignored; using {_format(value)}.",
                           icon=":material/link_off:")
        state[key] = value
    result = widget(label, key=key, **kwargs)
    if persist:
        state[PERSIST_PREFIX + key] = result
    text = _format(result)
    if st.query_params.get(key) != text:  # each write sends the browser a message: only on change
        st.query_params[key] = text
        _refresh_link()
    return result


def _refresh_link() -> None:
    """Rewrite the sidebar's "link to this view". The slot belongs to the current script
    run (``setup_page`` drops the previous run's and makes a new one after the sidebar's
    own widgets); until it exists nothing is written, and ``setup_page`` writes it once made."""
    slot = st.session_state.get(LINK_SLOT_KEY)
    if slot is None:
        return
    base = st.context.url or ""
    query = urlencode(dict(st.query_params.to_dict()))
    slot.code(f"{base}?{query}" if query else base, language=None, wrap_lines=True)

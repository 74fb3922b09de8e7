"""Mirror a page's controls in the URL so a link reopens the same view.

Use ``linked(st.slider, "Bandwidth", key="h", default=0.5, min_value=0.01, max_value=3.0)``
instead of ``st.slider(...)``. On a page's first run the value comes from the URL
when it is valid (else the default, with a notice); afterwards the widget owns it and
every change away from the default is written back to ``st.query_params``. When the
URL changes under the page (Back / Forward), the controls follow it. The sidebar's
"link to this view" shows the browser's address (``playground.ui.page.LINK_HTML``).
"""

from __future__ import annotations

from typing import Any, Callable

import streamlit as st

PERSIST_PREFIX = "_persist_"
OWNER_KEY = "_deeplink_owners"  # control key -> the page that last drew it
WRITTEN_KEY = "_deeplink_written"  # control key -> what this session last put in the URL (None: nothing)


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

    Only values that differ from ``default`` are written (a page opens with a clean
    URL): each write is one browser history entry, so writing every control on a
    page's first run would make Back step through twenty URLs of the same page instead
    of returning to the previous page. The URL is the truth whenever it differs from
    what this session last wrote, i.e. after Back / Forward: the control follows it.
    """
    state = st.session_state
    owners = state.setdefault(OWNER_KEY, {})
    written = state.setdefault(WRITTEN_KEY, {})
    page = _current_page()
    if owners.get(key, page) != page:
        # The key was last drawn by another page. Streamlit gives a widget on each page its
        # own identity, so that value would not reach this page's widget (a persisted seed
        # or projection mode would fall back to the default), and a short key such as "n"
        # or "lr" means something else on another page anyway: start again from the
        # persisted value, the link or the default.
        state.pop(key, None)
        written.pop(key, None)
    owners[key] = page
    drawn(key)
    raw = st.query_params.get(key)
    if key not in state:
        value = state.get(PERSIST_PREFIX + key, default) if persist else default
        if raw is not None:
            value = _from_link(raw, value, label, default, kwargs)
        state[key] = value
    elif raw != written.get(key) and not (persist and raw is None):
        # The browser moved through its history (or the link was edited): follow the URL.
        # A session-wide control (seed, projection) missing from an older URL keeps its value.
        state[key] = default if raw is None else _from_link(raw, state[key], label, default, kwargs)
    result = widget(label, key=key, **kwargs)
    if persist:
        state[PERSIST_PREFIX + key] = result
    text = _format(result)
    wanted = None if text == _format(default) else text
    if raw != wanted:  # each write sends the browser a message and makes a history entry: only on change
        if wanted is None:
            del st.query_params[key]
        else:
            st.query_params[key] = wanted
    written[key] = wanted
    return result


def _from_link(raw: str, fallback: Any, label: str, default: Any, kwargs: dict[str, Any]) -> Any:
    """The link's value for a control, or ``fallback`` with a notice when it is not valid."""
    try:
        return _parse(raw, default, kwargs)
    except (ValueError, TypeError) as error:
        empty = fallback is None or (isinstance(fallback, (str, list, tuple)) and len(fallback) == 0)
        shown = "nothing (the control starts empty)" if empty else _format(fallback)
        st.warning(f"The link's value for **{label}** ({error}) was ignored; using {shown}.",
                   icon=":material/link_off:")
        return fallback


DRAWN_KEY = "_deeplink_drawn"  # the URL keys written by this page's current full run


def start_run() -> None:
    """A full run of a page begins (``setup_page``): nothing drawn yet."""
    st.session_state[DRAWN_KEY] = set()


def drawn(key: str) -> None:
    """``key`` belongs to what this run shows (``linked`` calls it; so does a stepper's iteration)."""
    st.session_state.setdefault(DRAWN_KEY, set()).add(key)


def prune(keep: tuple[str, ...] = ()) -> None:
    """Drop from the URL every key this page's run did not draw (a closed tab's controls), so that a
    link carries only the open tab's keys and the shared ones. Call it at the end of a page with tabs."""
    shown = st.session_state.get(DRAWN_KEY, set()) | set(keep) | {"seed", "projection"}
    for key in [k for k in st.query_params.keys() if k not in shown]:
        del st.query_params[key]
        st.session_state.get(WRITTEN_KEY, {}).pop(key, None)

"""Which value each standard culling knob gets, and why.

Operators already know ``MappingKernelManager.cull_idle_timeout``,
``TerminalManager.cull_inactive_timeout`` and ``ServerApp.shutdown_no_activity_timeout``. Our
own traits are *defaults* for those knobs: an explicitly configured standard knob always wins.
This module is pure: it reads a traitlets ``Config`` and our trait values and returns what to
push into the server's config, plus one plain sentence for every adjustment it made. Invalid
values raise ``ConfigError`` naming the trait and the value.
"""

from __future__ import annotations

from dataclasses import dataclass

from traitlets.config import Config

#: Longest duration we accept (ten years): beyond it datetime arithmetic overflows.
MAX_SECONDS = 10 * 365 * 24 * 3600


class ConfigError(ValueError):
    """A configured value that cannot mean anything; startup must stop."""


@dataclass(frozen=True)
class Knob:
    ours: str  # our trait on CullExt
    name: str  # the standard trait
    sections: tuple[str, ...]  # config sections where the standard trait can be set
    kind: type = int


#: Our own settings that no standard knob carries (``live.Limits``).
LIMITS = ("warn_before", "keepalive_max", "max_age")


def standard_knobs(kernel_sections: tuple[str, ...]) -> list[Knob]:
    """The standard knobs we manage; ``kernel_sections`` are the kernel manager's class
    names, most general first (e.g. ``AsyncMappingKernelManager`` after
    ``MappingKernelManager``), because operators configure any of them."""
    return [
        Knob("kernel_idle_timeout", "cull_idle_timeout", kernel_sections),
        Knob("kernel_cull_interval", "cull_interval", kernel_sections),
        Knob("cull_busy", "cull_busy", kernel_sections, bool),
        Knob("cull_connected", "cull_connected", kernel_sections, bool),
        Knob("terminal_idle_timeout", "cull_inactive_timeout", ("TerminalManager",)),
        Knob("terminal_cull_interval", "cull_interval", ("TerminalManager",)),
        Knob("server_idle_timeout", "shutdown_no_activity_timeout", ("ServerApp",)),
    ]


def seconds(label: str, value: object) -> int:
    """A whole, non-negative number of seconds, or ``ConfigError`` naming ``label`` and the
    value as written (a string stays the string the operator wrote, not the number parsed
    from it; ``str()`` drops traitlets' DeferredConfigString wrapper)."""
    written = f"{label}={str(value)!r}" if isinstance(value, str) else f"{label}={value!r}"
    if isinstance(value, bool):
        raise ConfigError(f"{written} is not a number of seconds")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ConfigError(f"{written} is not a number of seconds") from None
    if isinstance(value, float):
        if not value.is_integer():
            raise ConfigError(f"{written} is not a whole number of seconds")
        value = int(value)
    if not isinstance(value, int):
        raise ConfigError(f"{written} is not a number of seconds")
    if value < 0:
        raise ConfigError(f"{written} is negative; use 0 to disable")
    if value > MAX_SECONDS:
        raise ConfigError(f"{written} is longer than ten years; use 0 to disable")
    return value


def boolean(label: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ConfigError(f"{label}={value!r} is not True or False")


def explicit(config: Config, sections: tuple[str, ...], name: str) -> str | None:
    """The section (most specific first, as in traitlets) where ``name`` was configured, or
    None; error messages name the section the operator actually wrote."""
    for section in reversed(sections):
        if section in config and name in config[section]:
            return section
    return None


@dataclass
class Resolution:
    values: dict[str, object]  # by our trait name: the effective value
    explicit: set[str]  # our trait names whose standard knob the operator set
    messages: list[str]  # one plain sentence per adjustment or conflict
    push: Config  # what to merge into the server's config


def resolve(
    config: Config, ours: dict[str, object], ours_explicit: set[str], all_knobs: list[Knob]
) -> Resolution:
    """Decide every knob's value. ``ours`` holds our traits' values (validated already),
    ``ours_explicit`` the names the operator set on our class."""
    values: dict[str, object] = {}
    std_explicit: set[str] = set()
    messages: list[str] = []
    for knob in all_knobs:
        section = explicit(config, knob.sections, knob.name)
        if section is None:
            values[knob.ours] = ours[knob.ours]
            continue
        std_explicit.add(knob.ours)
        label, raw = f"{section}.{knob.name}", config[section][knob.name]
        value = seconds(label, raw) if knob.kind is int else boolean(label, raw)
        values[knob.ours] = value
        if knob.ours in ours_explicit and ours[knob.ours] != value:
            messages.append(
                f"Both CullExt.{knob.ours}={ours[knob.ours]!r} and {label}={value!r} are "
                f"set; using {label}={value!r} (an explicit standard setting wins)."
            )
    for name in LIMITS:
        values[name] = ours[name]

    messages += _adjust(values, std_explicit | ours_explicit)

    push = Config()
    for knob in all_knobs:
        for section in knob.sections:
            push[section][knob.name] = values[knob.ours]
    return Resolution(values, std_explicit, messages, push)


def _adjust(v: dict[str, object], explicit_names: set[str]) -> list[str]:
    """Make combinations that cannot mean what was written mean something sensible.

    Each adjustment is safe (it never keeps anything up longer than configured) and is
    explained in one sentence.
    """
    out = []
    server = v["server_idle_timeout"]
    for what, timeout, interval in (
        ("kernel", "kernel_idle_timeout", "kernel_cull_interval"),
        ("terminal", "terminal_idle_timeout", "terminal_cull_interval"),
    ):
        if server and v[timeout] > server:
            if timeout in explicit_names:
                out.append(
                    f"The {what} idle timeout ({v[timeout]} s) is longer than the server idle "
                    f"timeout ({server} s): idle {what}s are stopped with the server unless "
                    f"other activity keeps it up."
                )
            else:
                out.append(
                    f"The default {what} idle timeout ({v[timeout]} s) is longer than the "
                    f"server idle timeout ({server} s); using {server} s."
                )
                v[timeout] = server
        if v[timeout] and v[interval] > v[timeout]:
            out.append(
                f"The {what} cull interval ({v[interval]} s) is longer than the {what} idle "
                f"timeout ({v[timeout]} s); checking every {v[timeout]} s."
            )
            v[interval] = v[timeout]
        if v[interval] == 0:
            # jupyter_server would replace 0 with its 300 s default; keep the backstop tight.
            v[interval] = min(60, v[timeout]) or 60
    spans = [s for s in (server, v["max_age"]) if s]
    if spans and v["warn_before"] >= min(spans):
        new = min(spans) // 2
        out.append(
            f"The warning time ({v['warn_before']} s) is not shorter than the shortest time a "
            f"server may run ({min(spans)} s); warning {new} s before instead."
        )
        v["warn_before"] = new
    return out

"""Kernel-release profiles: named quirks, each citing the release/commit that made it.

A *quirk* is a behaviour that holds for a half-open range of releases
``[since, until)``.  A *profile* is a release; the behaviours it shows are the
quirks whose range contains it.  The named profiles are the release intervals on
which the set of quirks is constant, derived from the quirks themselves, so a
new quirk can never leave a profile half-described.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from simnuma.abi.quirks import (
    FIRST_RELEASE,
    NEWEST_RELEASE,
    Quirk,
    Release,
    format_release,
    parse_release,
    simulated,
)


def _boundaries() -> list[Release]:
    """Where some quirk or feature the simulator models starts or ends."""
    points = {FIRST_RELEASE}
    for quirk in simulated():
        for point in (quirk.info.since, quirk.info.until):
            if point is not None and point > FIRST_RELEASE:
                points.add(point)
    return sorted(points)


@dataclass(frozen=True)
class Profile:
    """One kernel release as the simulator reproduces it."""

    name: str  # the interval it belongs to, e.g. "4.5–4.12"
    release: Release
    # every row that holds in the release, worked out once: has() runs per page
    held: frozenset[Quirk] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "held", frozenset(q for q in Quirk if q.holds_in(self.release)))

    def has(self, quirk: Quirk) -> bool:
        return quirk in self.held

    @property
    def quirks(self) -> frozenset[Quirk]:
        """The quirks and features of the release the simulator models."""
        return frozenset(q for q in simulated() if self.has(q))

    @property
    def release_name(self) -> str:
        return format_release(self.release)


def _previous(release: Release) -> Release:
    """The last release before ``release`` (for naming intervals)."""
    if len(release) == 3:
        return (*release[:2], release[2] - 1)
    major, minor = release
    if minor > 0:
        return (major, minor - 1)
    last_minor = {3: 19, 4: 20, 5: 19, 6: 19, 7: 9}.get(major - 1, 19)
    if major - 1 == 2:
        return (2, 6, 39)
    return (major - 1, last_minor)


@cache
def named_profiles() -> tuple[Profile, ...]:
    """Every interval of releases on which the quirk set is constant, oldest first."""
    points = _boundaries()
    profiles = []
    for i, start in enumerate(points):
        if i + 1 < len(points):
            end = _previous(points[i + 1])
            name = (
                format_release(start)
                if end == start
                else f"{format_release(start)}–{format_release(end)}"
            )
        else:
            name = f"{format_release(start)}+"
        profiles.append(Profile(name, start))
    return tuple(profiles)


def resolve_profile(spec: str | None = None) -> Profile:
    """``None`` -> the newest; ``'6.1'`` -> the profile that holds 6.1, at release 6.1;
    a profile name (``'4.5–4.12'``, ``'6.12+'``) -> that profile at its first release."""
    if spec is None:
        return Profile(named_profiles()[-1].name, NEWEST_RELEASE)
    if not isinstance(spec, str):
        raise TypeError(f"profile must be str, not {type(spec).__name__}")
    text = spec.strip().replace("-", "–")
    for profile in named_profiles():
        if text == profile.name:
            return profile
    start = text.split("–")[0].rstrip("+")
    release = parse_release(start)
    if release < FIRST_RELEASE:
        raise ValueError(
            f"profile {spec!r}: move_pages(2) first appeared in 2.6.18; no earlier profile"
        )
    containing = [p for p in named_profiles() if p.release <= release]
    return Profile(containing[-1].name, release)

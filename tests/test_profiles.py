"""Profiles: named intervals derived from quirks, resolution of a release."""

from __future__ import annotations

import itertools

import pytest

from simnuma import Quirk, SimKernel, named_profiles, resolve_profile
from simnuma.abi.quirks import (
    ABI,
    COMMIT_FORMAT,
    FEATURE,
    FIRST_RELEASE,
    HOST_FEATURE,
    parse_release,
    unconfirmed,
)


@pytest.mark.parametrize(
    ("spec", "name", "release"),
    [
        ("6.1", "6.1–6.2", (6, 1)),
        ("2.6.18", "2.6.18–2.6.27", (2, 6, 18)),
        ("4.3-4.4", "4.3–4.4", (4, 3)),
        ("4.9", "4.5–4.12", (4, 9)),
        ("6.12–6.14", "6.12–6.14", (6, 12)),
        ("6.12.38+deb13-amd64", "6.12–6.14", (6, 12)),
        ("6.16+", "6.16+", (6, 16)),
        ("7.2.13+deb14-amd64", "6.16+", (7, 2)),
        ("5.4", "4.17–5.4", (5, 4)),
    ],
)
def test_resolve(spec: str, name: str, release: tuple[int, ...]) -> None:
    profile = resolve_profile(spec)
    assert (profile.name, profile.release) == (name, release)


def test_default_is_newest() -> None:
    assert resolve_profile().name == named_profiles()[-1].name
    assert SimKernel().profile == resolve_profile()


def test_required_profiles_exist_as_boundaries() -> None:
    starts = {p.release for p in named_profiles()}
    for release in ("2.6.18", "2.6.28", "2.6.29", "4.3", "4.13", "4.17", "5.5", "6.12"):
        assert parse_release(release) in starts


def test_quirks_constant_within_a_profile() -> None:
    """Every release inside a named profile (2.6.18–2.6.39, then x.0–x.N up to the
    newest) shows exactly that profile's quirks; each profile starts at its release;
    neighbouring profiles differ (the intervals are maximal)."""
    from simnuma.abi.quirks import FIRST_RELEASE, NEWEST_RELEASE, format_release

    last_minor = {3: 19, 4: 20, 5: 19, 6: 19}
    releases = [(2, 6, n) for n in range(FIRST_RELEASE[2], 40)]
    for major in range(3, NEWEST_RELEASE[0] + 1):
        top = last_minor.get(major, NEWEST_RELEASE[1])
        releases += [(major, minor) for minor in range(top + 1) if (major, minor) <= NEWEST_RELEASE]
    profiles = {p.name: p for p in named_profiles()}
    first: dict[str, tuple[int, ...]] = {}
    for release in releases:
        found = resolve_profile(format_release(release))
        named = profiles[found.name]
        first.setdefault(found.name, release)
        assert found.quirks == named.quirks, (
            f"{format_release(release)} in {found.name}: "
            f"{sorted(q.name for q in found.quirks ^ named.quirks)} differ"
        )
    assert first == {name: p.release for name, p in profiles.items()}
    for before, after in itertools.pairwise(named_profiles()):
        assert before.quirks != after.quirks, (before.name, after.name)


def test_every_quirk_cites_a_commit_hash_or_says_it_is_unconfirmed() -> None:
    """A commit is a hash (12+ hex digits) or a range of two; anything else (an author,
    a title, a date) belongs in the summary, and a row without a hash read in the
    kernel's history says confirmed=False."""
    for quirk in Quirk:
        info = quirk.info
        assert info.summary, quirk
        assert info.kind in (ABI, FEATURE, HOST_FEATURE), quirk
        if info.commit:
            assert COMMIT_FORMAT.match(info.commit), f"{quirk.name}: commit {info.commit!r}"
        else:
            assert not info.confirmed, f"{quirk.name}: no hash, yet confirmed"
    assert Quirk.HOLE_BELOW_VMA_ENOENT in unconfirmed()


@pytest.mark.parametrize(
    ("commit", "ok"),
    [
        ("b426ed7889be", True),
        ("b426ed7889be80359cb4edef142e5c5fa697b068", True),
        ("e632a938d914..b426ed7889be", True),
        ("5984fabb6e82 … a7504ed14f9b", True),
        ("b426ed7889b", False),  # 11 digits
        ("Gleb Natapov 2010-10", False),
        ("0486a38bcc47 (Yisheng Xie)", False),
        ("e632a938d914 … ", False),
    ],
)
def test_commit_format(commit: str, ok: bool) -> None:
    assert bool(COMMIT_FORMAT.match(commit)) is ok


def test_host_features_never_cut_a_profile() -> None:
    """Only what the simulator models cuts profiles: THP does (has_thp is constant
    within a profile), MADV_POPULATE and cgroup v2 migration (host features) do not."""
    starts = {p.release for p in named_profiles()}
    modelled = {
        point
        for q in Quirk
        if q.info.kind != HOST_FEATURE
        for point in (q.info.since, q.info.until)
        if point is not None
    }
    hosts = [q for q in Quirk if q.info.kind == HOST_FEATURE]
    assert hosts, "the table has host features (MADV_POPULATE, cgroup v2 migration)"
    # profiles start exactly at the modelled edges; a host feature's edge adds none
    assert starts == {FIRST_RELEASE} | {p for p in modelled if p > FIRST_RELEASE}
    assert Quirk.THP.info.since in starts
    for profile in named_profiles():
        assert SimKernel(profile=profile.name).has_thp is Quirk.THP.holds_in(profile.release)
    assert not SimKernel(profile="2.6.37").has_thp and SimKernel(profile="2.6.38").has_thp


@pytest.mark.parametrize("bad", ["2.6.17", "linux", "", "7"])
def test_bad_profile(bad: str) -> None:
    with pytest.raises(ValueError):
        resolve_profile(bad)


def test_profile_type() -> None:
    with pytest.raises(TypeError, match="profile"):
        resolve_profile(6.1)  # type: ignore[arg-type]

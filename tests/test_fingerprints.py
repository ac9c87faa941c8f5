"""Same bytes as before the declared pipeline: every result field and every view over the
examples × a grid of settings, and the sweep grid, against fingerprints the earlier code wrote
(``tests/fingerprints.py``), both without a cache and through one shared cache (where stale keys
would show)."""

import json
from pathlib import Path

import pytest

from fingerprints import fingerprint
from inpaint_init import StageCache

EXPECTED = json.loads((Path(__file__).parent / "data" / "fingerprints.json").read_text())


def _differences(got: dict) -> list[str]:
    out = []
    for case, want in EXPECTED.items():
        if case == "sweep grid" or got[case] == want:
            continue
        for section in ("fields", "views"):
            out += [f"{case}: {section} {k}" for k in want[section] if got[case][section].get(k) != want[section][k]]
        if got[case]["soft"] != want["soft"]:
            out.append(f"{case}: soft result latent")
    if got["sweep grid"] != EXPECTED["sweep grid"]:
        out.append("sweep grid")
    return out


@pytest.mark.parametrize("cached", [False, True], ids=["no cache", "one shared cache"])
def test_results_and_views_are_the_bytes_of_before(cached):
    got = fingerprint(StageCache() if cached else None)
    assert set(got) == set(EXPECTED)
    assert _differences(got) == []

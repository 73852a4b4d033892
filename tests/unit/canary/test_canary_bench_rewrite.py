"""benchmarks/canary.py rewrites its tables, not the hand-written sections below them."""

from __future__ import annotations

from benchmarks.canary import HAND_WRITTEN, keep_written_sections


def test_a_rerun_keeps_the_reading_and_the_dated_sections() -> None:
    old = (
        "# Canary judge benchmark\n\n## Headline\n\n| old | table |\n\n"
        f"{HAND_WRITTEN} (hand-written)\n\nprose\n\n## 2026-11-25: a dated section\n\nmore\n"
    )
    new = "# Canary judge benchmark\n\n## Headline\n\n| new | table |\n"
    merged = keep_written_sections(new, old)
    assert merged.startswith(new.rstrip("\n"))
    assert "| old | table |" not in merged
    assert merged.endswith(old[old.index(HAND_WRITTEN) :])
    assert merged.count(HAND_WRITTEN) == 1


def test_a_first_run_writes_the_tables_alone() -> None:
    assert keep_written_sections("tables\n", "") == "tables\n"
    assert keep_written_sections("tables\n", "nothing written by hand\n") == "tables\n"

"""benchmarks/soak.py --daemon-env: variables for the daemon's environment only."""

from __future__ import annotations

import pytest

from benchmarks.soak import main, parse_env


def test_daemon_env_pairs_become_a_mapping() -> None:
    assert parse_env(["MALLOC_ARENA_MAX=2", "PYTHONMALLOC=malloc"]) == {
        "MALLOC_ARENA_MAX": "2",
        "PYTHONMALLOC": "malloc",
    }


def test_daemon_env_keeps_what_follows_the_first_equals_sign_and_a_later_key_wins() -> None:
    assert parse_env(["A=x=y", "B=", "A=z=w"]) == {"A": "z=w", "B": ""}


@pytest.mark.parametrize("pair", ["MALLOC_ARENA_MAX", "=2", "2X=1", "A B=1"])
def test_a_pair_that_is_not_key_equals_value_is_refused_before_anything_starts(
    pair: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--minutes", "1", "--daemon-env", pair])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"--daemon-env {pair!r}: expected KEY=VALUE" in err

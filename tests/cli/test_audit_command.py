"""``trifront audit`` through the real command line: bad input, and one tiny audit."""

from __future__ import annotations

import json

import pytest

from trifront.cli import main

CONFIG = ["--dataset", "adult", "--clip", "1", "--lr", "0.5", "--batch-size", "64",
          "--epochs", "1"]


@pytest.mark.parametrize(("extra", "needle"), [
    (["--epsilon", "1", "--canaries", "9"], "--canaries"),
    (["--epsilon", "1", "--confidence", "1"], "confidence"),
    (["--epsilon", "1", "--confidence", "0"], "--confidence"),
    (["--epsilon", "1", "--confidence", "1.5"], "--confidence"),
    ([], "--epsilon"),
])
def test_bad_input_exits_2_with_one_line(extra, needle, capsys):
    with pytest.raises(SystemExit) as info:
        code = main(["audit", *CONFIG, *extra])
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


def test_a_tiny_audit_prints_its_numbers(capsys):
    assert main(["audit", *CONFIG, "--epsilon", "1", "--canaries", "20", "--reproducible",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("epsilon", "epsilon_lower_bound", "canaries", "confidence", "guesses",
                "correct", "method", "seconds"):
        assert key in out
    assert out["canaries"] == 20 and out["confidence"] == 0.95
    assert out["epsilon_lower_bound"] <= out["epsilon"]
    assert "Steinke" in out["method"]


def test_help_lists_the_audit_flags(capsys):
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    text = capsys.readouterr().out
    for flag in ("--canaries", "--confidence", "--json", "--epsilon", "--engine", "--model"):
        assert flag in text

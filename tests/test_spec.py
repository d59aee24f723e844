"""Human shorthands parse at the type level, with clear messages; properties over inputs."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploy_kit.spec import parse_bytes, parse_hardware_shorthand, parse_tokens


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("80GB", 80 * 10**9),
        ("79.19GiB", int(79.19 * 2**30)),
        ("141G", 141 * 10**9),
        ("512MiB", 512 * 2**20),
        (1024, 1024),
        ("2TB", 2 * 10**12),
    ],
)
def test_parse_bytes(text: object, value: int) -> None:
    assert parse_bytes(text) == value


@pytest.mark.parametrize(
    "bad", ["", "GB", "-5GB", "0", "nanGB", "1e30TB", "12 parsecs", True, None]
)
def test_parse_bytes_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_bytes(bad)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("128k", 128000),
        ("128K", 131072),
        ("1M", 1048576),
        ("1m", 1000000),
        ("8192", 8192),
        (4096, 4096),
        ("25.6k", 25600),
    ],
)
def test_parse_tokens_follows_vllm(text: object, value: int) -> None:
    assert parse_tokens(text) == value


@pytest.mark.parametrize("bad", ["", "-1", "0", "1.5", "12q", "1T", float("inf"), 2.5, False])
def test_parse_tokens_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_tokens(bad)


@pytest.mark.parametrize(
    ("text", "nodes", "count", "gpu"),
    [
        ("8xH200", 1, 8, "H200"),
        ("2x8xH100", 2, 8, "H100"),
        ("4xB200", 1, 4, "B200"),
        ("2xGB10", 1, 2, "GB10"),
        ("8 x RTX-PRO-6000", 1, 8, "RTX-PRO-6000"),
    ],
)
def test_hardware_shorthand(text: str, nodes: int, count: int, gpu: str) -> None:
    s = parse_hardware_shorthand(text)
    assert (s.nodes, s.gpus_per_node, s.gpu) == (nodes, count, gpu)


@pytest.mark.parametrize("bad", ["H200", "0xH200", "8x", "x8xH100", "1000000000xH100", "2x0xH100"])
def test_hardware_shorthand_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match=r"hardware|out of range"):
        parse_hardware_shorthand(bad)


@given(st.text(max_size=40))
def test_shorthand_parsers_only_raise_valueerror(text: str) -> None:
    for parser in (parse_bytes, parse_tokens, parse_hardware_shorthand):
        with contextlib.suppress(ValueError):
            parser(text)

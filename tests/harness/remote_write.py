"""Prometheus remote write (protocol 1.0) by hand: a protobuf WriteRequest, snappy-framed.

Test infrastructure only. The protobuf messages are tiny, so they are encoded directly;
the snappy block is written as literals only, which every snappy decoder accepts.
"""

from __future__ import annotations

import struct
import urllib.request
from collections.abc import Iterable, Mapping


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    return _varint((number << 3) | wire) + payload


def _bytes_field(number: int, data: bytes) -> bytes:
    return _field(number, 2, _varint(len(data)) + data)


def encode_write_request(
    series: Iterable[tuple[Mapping[str, str], Iterable[tuple[float, float]]]],
) -> bytes:
    """``series``: (labels incl. ``__name__``, [(epoch seconds, value), ...])."""
    body = bytearray()
    for labels, samples in series:
        ts = bytearray()
        for name in sorted(labels):
            label = _bytes_field(1, name.encode()) + _bytes_field(2, labels[name].encode())
            ts += _bytes_field(1, label)
        for when, value in samples:
            sample = _field(1, 1, struct.pack("<d", value)) + _field(
                2, 0, _varint(int(when * 1000))
            )
            ts += _bytes_field(2, sample)
        body += _bytes_field(1, bytes(ts))
    return bytes(body)


def snappy_literal_block(data: bytes) -> bytes:
    out = bytearray(_varint(len(data)))
    for start in range(0, len(data), 65536):
        chunk = data[start : start + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
    return bytes(out)


def remote_write(
    url: str, series: Iterable[tuple[Mapping[str, str], Iterable[tuple[float, float]]]]
) -> None:
    payload = snappy_literal_block(encode_write_request(series))
    request = urllib.request.Request(
        f"{url}/api/v1/write",
        data=payload,
        method="POST",
        headers={
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status not in (200, 204):
            raise RuntimeError(f"remote write answered HTTP {response.status}")

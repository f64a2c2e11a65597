"""Kubernetes protobuf, by hand, for the few objects the node simulator writes (pure).

client-go speaks ``application/vnd.kubernetes.protobuf`` for built-in types, so a kubelet's
lease renewals reach the apiserver as protobuf, which the apiserver decodes and, for the
audit event, re-encodes as JSON. To exercise that path without Go, this encodes a
coordination.k8s.io/v1 Lease the way the apiserver's protobuf serializer frames it: the
magic ``k8s\\x00`` followed by a runtime.Unknown {typeMeta {apiVersion, kind}, raw: the
Lease message}. Field numbers are those of k8s.io/api coordination/v1 and
k8s.io/apimachinery meta/v1 and runtime generated.proto (v0.37.2). Decoding reads just
enough of a response to find metadata.resourceVersion.
"""

from __future__ import annotations

from collections.abc import Iterator

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 two's complement, as protobuf encodes negative int64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _bytes(field: int, value: bytes) -> bytes:
    return _key(field, 2) + _varint(len(value)) + value


def _str(field: int, value: str) -> bytes:
    return _bytes(field, value.encode())


def _int(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def micro_time(unix: float) -> bytes:
    """meta/v1 MicroTime {seconds = 1, nanos = 2}."""
    seconds = int(unix)
    nanos = int(round((unix - seconds) * 1e6)) * 1000  # MicroTime keeps microseconds
    return _int(1, seconds) + (_int(2, nanos) if nanos else b"")


def object_meta(name: str, namespace: str = "", resource_version: str = "") -> bytes:
    """meta/v1 ObjectMeta {name = 1, namespace = 3, resourceVersion = 6}."""
    out = _str(1, name)
    if namespace:
        out += _str(3, namespace)
    if resource_version:
        out += _str(6, resource_version)
    return out


def lease(name: str, namespace: str, holder: str, duration_s: int, renew: float,
          resource_version: str = "") -> bytes:
    """coordination/v1 Lease {metadata = 1, spec = 2 {holderIdentity = 1,
    leaseDurationSeconds = 2, renewTime = 4}}."""
    spec = _str(1, holder) + _int(2, duration_s) + _bytes(4, micro_time(renew))
    return _bytes(1, object_meta(name, namespace, resource_version)) + _bytes(2, spec)


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    """The apiserver's protobuf framing: magic + runtime.Unknown {typeMeta = 1 {apiVersion = 1,
    kind = 2}, raw = 2}."""
    type_meta = _str(1, api_version) + _str(2, kind)
    return MAGIC + _bytes(1, type_meta) + _bytes(2, raw)


def lease_body(name: str, namespace: str, holder: str, duration_s: int, renew: float,
               resource_version: str = "") -> bytes:
    return envelope("coordination.k8s.io/v1", "Lease",
                    lease(name, namespace, holder, duration_s, renew, resource_version))


# --- decoding ---------------------------------------------------------------------------------
def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = n = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def fields(buf: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, value) of a message; length-delimited values as bytes."""
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(buf, i)
            yield field, wire, value
        elif wire == 2:
            size, i = _read_varint(buf, i)
            if i + size > len(buf):
                raise ValueError("truncated field")
            yield field, wire, buf[i:i + size]
            i += size
        elif wire == 1:
            yield field, wire, buf[i:i + 8]
            i += 8
        elif wire == 5:
            yield field, wire, buf[i:i + 4]
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _first(buf: bytes, field: int) -> bytes | None:
    for f, wire, value in fields(buf):
        if f == field and wire == 2 and isinstance(value, bytes):
            return value
    return None


def unwrap(body: bytes) -> tuple[str, str, bytes]:
    """(apiVersion, kind, raw) of an enveloped object; ValueError if it is not one."""
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf body (no k8s\\x00 magic)")
    unknown = body[len(MAGIC):]
    tm, raw = _first(unknown, 1) or b"", _first(unknown, 2) or b""
    api_version, kind = (_first(tm, 1) or b"").decode(), (_first(tm, 2) or b"").decode()
    return api_version, kind, raw


def resource_version(body: bytes) -> str | None:
    """metadata.resourceVersion of an enveloped object (field 1 of the object is its ObjectMeta)."""
    try:
        _, _, raw = unwrap(body)
        meta = _first(raw, 1)
        rv = _first(meta, 6) if meta is not None else None
    except ValueError:
        return None
    return rv.decode() if rv else None

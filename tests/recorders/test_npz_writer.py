"""The ISA-L ``.npz`` writer: plain ZIP files that ``np.load`` and ``zipfile`` read back exactly."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tv2tv.recorders.npz import write_npz

DTYPES = st.sampled_from([np.uint8, np.int64, np.float32, np.float64, np.bool_, ">i4", "<U5"])


def round_trip(arrays: dict, **kw) -> dict[str, np.ndarray]:
    buf = io.BytesIO()
    write_npz(buf, arrays, **kw)
    data = buf.getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None  # every member's CRC matches
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(arrays=st.dictionaries(
    st.text("abcé_", min_size=1, max_size=6),
    hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)),
    max_size=4), level=st.integers(0, 3), zip64=st.booleans())
def test_any_arrays_round_trip(arrays, level, zip64):
    back = round_trip(arrays, level=level, force_zip64=zip64)
    assert sorted(back) == sorted(arrays)
    for k, v in arrays.items():
        assert_same(v, back[k])


def test_episode_like_fields_and_layouts():
    frames = np.random.default_rng(0).integers(0, 4, (40, 16, 16, 3), dtype=np.uint8)
    arrays = {
        "frames": frames, "seed": np.asarray(7, np.int64), "terminated": np.asarray(True),
        "env": np.asarray("ALE/Pong-v5"), "text_strings": np.asarray([], dtype=np.str_),
        "strided": frames[::2, :, ::3], "fortran": np.asfortranarray(frames[0, :, :, 0]),
    }
    back = round_trip(arrays)
    for k, v in arrays.items():
        assert_same(v, back[k])
    assert back["seed"].shape == () and str(back["env"]) == "ALE/Pong-v5"


def test_large_member_streams_in_chunks():
    frames = np.tile(np.arange(256, dtype=np.uint8), 3 * 2**13).reshape(-1, 64, 64, 3)  # 6 MiB
    assert_same(frames, round_trip({"frames": frames})["frames"])


def test_compresses_like_zlib():
    frames = np.zeros((200, 64, 64, 3), np.uint8)
    frames[:, 20:30, 5:8] = 255
    buf = io.BytesIO()
    write_npz(buf, {"frames": frames})
    assert len(buf.getvalue()) < frames.nbytes / 50


def test_refuses_objects_and_bad_levels():
    with pytest.raises(TypeError, match="without pickle"):
        write_npz(io.BytesIO(), {"x": np.asarray([{"a": 1}], dtype=object)})
    for level in (4, -1, True, 1.0):
        with pytest.raises(ValueError, match="level must be an int in 0..3"):
            write_npz(io.BytesIO(), {"x": np.zeros(2)}, level=level)

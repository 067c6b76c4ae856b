"""zygopy.nn.saving against malformed files made by hand (byte ranges with holes or overlaps,
impossible shapes, deeply nested headers), models it cannot load into whole (a read-only array, an
array shared by two layers), and the saved file's permissions and metadata. Each file is one a
careless or hostile writer could make: loading must refuse it with ModelFileError and leave the
model as it was."""
import json
import os
import stat
import struct

import numpy as np
import pytest

from zygopy import nn

from .nn_support import expect_rejected


def rng(seed=0):
    return np.random.default_rng(seed)


def small_model(seed=0):
    """layers.0.weight: float32 (2, 1), 8 bytes; layers.0.bias: float32 (1,), 4 bytes."""
    return nn.Chain(nn.Dense(2, 1, rng=rng(seed)))


def write_file(path, header, data):
    """A safetensors file with the given header (a dict, or the JSON text as bytes) and data."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def entry(shape, start, stop, dtype="F32"):
    return {"dtype": dtype, "shape": shape, "data_offsets": [start, stop]}


def test_byte_ranges_in_any_order_and_empty_arrays_are_accepted(tmp_path):
    data = np.arange(3, dtype="<f4").tobytes()
    path = write_file(tmp_path / "m.safetensors", {
        "layers.0.weight": entry([2, 1], 4, 12), "layers.0.bias": entry([1], 0, 4)}, data)
    model = nn.load(path, small_model())
    np.testing.assert_array_equal(model[0].bias, [0])
    np.testing.assert_array_equal(model[0].weight, [[1], [2]])
    path = write_file(tmp_path / "e.safetensors", {
        "a": entry([0], 0, 0), "b": entry([1], 0, 4), "c": entry([3, 0], 4, 4)}, data[:4])
    assert {k: v.shape for k, v in nn.saving.read(path).items()} == {
        "a": (0,), "b": (1,), "c": (3, 0)}


BAD_LAYOUTS = {  # (weight's range, bias's range, data length); weight is 8 bytes, bias 4
    "starts after 0": ((4, 12), (12, 16), 16),
    "gap between": ((0, 8), (12, 16), 16),
    "overlap": ((0, 8), (4, 8), 8),
    "same bytes": ((0, 8), (0, 4), 8),
}


@pytest.mark.parametrize("case", BAD_LAYOUTS)
def test_byte_ranges_must_tile_the_data_exactly(tmp_path, case):
    (w0, w1), (b0, b1), n = BAD_LAYOUTS[case]
    path = write_file(tmp_path / "m.safetensors", {
        "layers.0.weight": entry([2, 1], w0, w1), "layers.0.bias": entry([1], b0, b1)},
        bytes(n))
    expect_rejected(path, small_model(), "invalid offset")


@pytest.mark.parametrize("case", BAD_LAYOUTS)
def test_the_reference_package_rejects_the_same_layouts(tmp_path, case):
    st = pytest.importorskip("safetensors.numpy")
    (w0, w1), (b0, b1), n = BAD_LAYOUTS[case]
    path = write_file(tmp_path / "m.safetensors", {
        "layers.0.weight": entry([2, 1], w0, w1), "layers.0.bias": entry([1], b0, b1)},
        bytes(n))
    with pytest.raises(Exception, match="(?i)invalid ?offset"):
        st.load_file(str(path))


BIAS = {"layers.0.bias": entry([1], 0, 4)}
BAD_ENTRIES = {  # weight's entry (bias takes bytes 0..4, weight's range starts at 4)
    "negative shape": entry([-1, -2], 4, 12),
    "element count wraps in int64": entry([2 ** 62, 4], 4, 4),
    "huge dimension": entry([2 ** 70], 4, 4),
    "dimension beyond NumPy's": entry([0, 2 ** 63], 4, 4),
    "float dimension": entry([2.0, 1], 4, 12),
    "boolean dimension": entry([2, True], 4, 12),
    "shape as a string": entry("21", 4, 12),
    "float offset": entry([2, 1], 4, 12.0),
    "three offsets": {"dtype": "F32", "shape": [2, 1], "data_offsets": [4, 8, 12]},
    "unknown dtype": entry([2, 1], 4, 12, dtype="F8"),
    "not an object": [4, 12],
}


@pytest.mark.parametrize("case", BAD_ENTRIES)
def test_malformed_entries_are_rejected_cleanly(tmp_path, case):
    path = write_file(tmp_path / "m.safetensors",
                      {**BIAS, "layers.0.weight": BAD_ENTRIES[case]}, bytes(12))
    expect_rejected(path, small_model())


@pytest.mark.parametrize("text", [b"[" * 100_000, b'{"a":' * 100_000],
                         ids=["nested lists", "nested objects"])
def test_unparseable_headers_are_rejected_cleanly(tmp_path, text):
    expect_rejected(write_file(tmp_path / "m.safetensors", text, b""), small_model(),
                    "not valid JSON")


def test_a_header_not_in_utf8_is_rejected(tmp_path):
    path = write_file(tmp_path / "m.safetensors", "{}".encode("utf-16"), b"")
    with pytest.raises(nn.ModelFileError, match="not valid JSON"):
        nn.saving.read(path)


def test_a_repeated_name_is_rejected(tmp_path):
    text = (b'{"layers.0.weight":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},'
            b'"layers.0.bias":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},'
            b'"layers.0.weight":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]}}')
    expect_rejected(write_file(tmp_path / "m.safetensors", text, bytes(12)), small_model(),
                    "twice")


def test_a_read_only_array_leaves_the_model_unchanged(tmp_path):
    nn.save(tmp_path / "a.safetensors", nn.Chain(nn.Dense(2, 2, rng=rng(1)),
                                                 nn.Dense(2, 2, rng=rng(2))))
    model = nn.Chain(nn.Dense(2, 2, rng=rng(3)), nn.Dense(2, 2, rng=rng(4)))
    model[1].weight.flags.writeable = False
    expect_rejected(tmp_path / "a.safetensors", model, "layers.1.weight.*read-only")


def test_different_values_for_one_shared_array_are_refused(tmp_path):
    nn.save(tmp_path / "untied.safetensors", nn.Chain(nn.Dense(2, 2, rng=rng(1)),
                                                      nn.Dense(2, 2, rng=rng(2))))
    shared = nn.Dense(2, 2, rng=rng(3))
    expect_rejected(tmp_path / "untied.safetensors", nn.Chain(shared, shared),
                    "layers.0.weight and layers.1.weight are one array")


def test_values_that_differ_for_a_tied_view_are_refused(tmp_path):
    """A decoder whose weight is the encoder's transposed: a file from an untied model was
    loaded, the decoder's values silently overwriting the encoder's."""
    def autoencoder(tied, seed):
        model = nn.Chain(nn.Dense(3, 2, rng=rng(seed)), nn.Dense(2, 3, rng=rng(seed + 1)))
        if tied:
            model[1].weight = model[0].weight.T
        return model

    nn.save(tmp_path / "untied.safetensors", autoencoder(False, 1))
    expect_rejected(tmp_path / "untied.safetensors", autoencoder(True, 3),
                    "layers.0.weight and layers.1.weight are one array in the model .or views")
    source = autoencoder(True, 1)
    nn.save(tmp_path / "tied.safetensors", source)
    target = nn.load(tmp_path / "tied.safetensors", autoencoder(True, 3))
    np.testing.assert_array_equal(target[0].weight, source[0].weight)
    assert target[1].weight.base is target[0].weight


def test_equal_values_for_one_shared_array_are_loaded(tmp_path):
    source = nn.Dense(2, 2, rng=rng(1))
    nn.save(tmp_path / "tied.safetensors", nn.Chain(source, source))
    shared = nn.Dense(2, 2, rng=rng(3))
    nn.load(tmp_path / "tied.safetensors", nn.Chain(shared, shared))
    np.testing.assert_array_equal(shared.weight, source.weight)
    np.testing.assert_array_equal(shared.bias, source.bias)


@pytest.fixture
def umask():
    """Set the process's umask for the test; restore it after."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002], ids=oct)
def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path, umask, mask):
    umask(mask)
    nn.save(tmp_path / "m.safetensors", small_model())
    assert mode(tmp_path / "m.safetensors") == 0o666 & ~mask


@pytest.mark.parametrize("old_mode", [0o644, 0o640, 0o444], ids=oct)
def test_a_replaced_file_keeps_its_mode(tmp_path, umask, old_mode):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"old")
    path.chmod(old_mode)
    umask(0o077)
    nn.save(path, small_model())
    assert mode(path) == old_mode
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]


def test_the_file_then_its_directory_are_synced(tmp_path, monkeypatch):
    """The file's data reaches the disk before the rename, and the directory after it: without
    the directory's sync, a crash could lose the rename (the old file back, or none)."""
    synced, fsync = [], os.fsync

    def recording(fd):
        synced.append((stat.S_ISDIR(os.fstat(fd).st_mode), sorted(os.listdir(tmp_path))))
        fsync(fd)
    monkeypatch.setattr(os, "fsync", recording)
    nn.save(tmp_path / "m.safetensors", small_model())
    (file, before), (directory, after) = synced
    assert not file and "m.safetensors" not in before
    assert directory and after == ["m.safetensors"]


@pytest.mark.parametrize("metadata", [{"epoch": 3}, {"lr": 0.1}, {"tags": ["a"]},
                                      {3: "epoch"}, {"note": None}], ids=str)
def test_metadata_other_than_strings_is_refused(tmp_path, metadata):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"old")
    with pytest.raises(TypeError, match="string"):
        nn.save(path, small_model(), metadata=metadata)
    assert path.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]  # no temporary left behind


def test_string_metadata_is_readable_by_the_reference_package(tmp_path):
    safetensors = pytest.importorskip("safetensors")
    path = tmp_path / "m.safetensors"
    nn.save(path, small_model(), metadata={"epoch": "3"})
    with safetensors.safe_open(str(path), "np") as f:
        assert f.metadata() == {"format": "zygopy", "epoch": "3"}
    nn.load(path, small_model(1))


def test_models_holding_dicts_save_load_and_train(tmp_path, monkeypatch):
    """A dict of arrays is a model structure like any other: named_arrays read a dict's entries
    as attributes, so train (which checks each gradient by name), save and load failed."""
    from zygopy.backend import tiered
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)  # the loop is tested here
    params = {"W": rng().normal(size=(3, 1)), "b": np.zeros(1), "layer": {"scale": 2}}
    x = rng(1).normal(size=(8, 3))
    y = x @ np.array([[1.0], [2.0], [3.0]])

    def loss(p, x, y):
        return nn.mse((x @ p["W"] + p["b"]) * p["layer"]["scale"], y)

    before = loss(params, x, y)
    nn.train(loss, params, nn.DataLoader((x, y), 4), nn.setup(nn.Adam(0.05), params),
             epochs=20, progress=False)
    assert loss(params, x, y) < 0.5 * before
    assert set(nn.saving.named_arrays(params)) == {"W", "b"}
    nn.save(tmp_path / "d.safetensors", params)
    other = {"W": np.zeros((3, 1)), "b": np.ones(1), "layer": {"scale": 2}}
    nn.load(tmp_path / "d.safetensors", other)
    np.testing.assert_array_equal(other["W"], params["W"])
    np.testing.assert_array_equal(other["b"], params["b"])

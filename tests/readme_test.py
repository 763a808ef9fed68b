"""The README's Python example runs and does what it says."""

import os
import re

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_subclassing_example():
    with open(os.path.join(ROOT, "README.md")) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.DOTALL)
    (example,) = [b for b in blocks if "TemperatureHead" in b]
    namespace = {}
    exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102
    model = namespace["model"]
    head = model.layers[-1]
    assert type(head).__name__ == "TemperatureHead"
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(192, 10)).astype("float32")
    bias = rng.normal(size=10).astype("float32")
    head.set_weights([kernel, bias])
    images = rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    logits = np.asarray(model(images))
    assert logits.shape == (2, 10)
    keras = namespace["keras"]
    features = keras.Model(model.input, model.layers[-2].output)(images)
    class_token = np.asarray(features)[:, 0]
    expected = (class_token @ kernel + bias) / 2.0  # temperature=2.0
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)

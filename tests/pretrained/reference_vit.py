"""A numpy ViT that computes what vit_jax computes from an AugReg `.npz`.

Written from the vit_jax model definition, independently of mu2keras'
layers, to check that a loaded root computes the checkpoint's function.
"""

import numpy as np

BLOCK = "Transformer/encoderblock_{}/"


def augreg_arrays(rng, patch, width, heads, mlp, depth, grid, classes=5):
    """Random arrays under every key of an AugReg checkpoint."""
    head_dim = width // heads
    arrays = {
        "embedding/kernel": (patch, patch, 3, width),
        "embedding/bias": (width,),
        "cls": (1, 1, width),
        "Transformer/posembed_input/pos_embedding": (1, grid * grid + 1, width),
        "Transformer/encoder_norm/scale": (width,),
        "Transformer/encoder_norm/bias": (width,),
        "head/kernel": (width, classes),
        "head/bias": (classes,),
    }
    for i in range(depth):
        scope = BLOCK.format(i)
        attention = scope + "MultiHeadDotProductAttention_1/"
        for name in ("query", "key", "value"):
            arrays[attention + name + "/kernel"] = (width, heads, head_dim)
            arrays[attention + name + "/bias"] = (heads, head_dim)
        arrays[attention + "out/kernel"] = (heads, head_dim, width)
        arrays[attention + "out/bias"] = (width,)
        for norm in ("LayerNorm_0", "LayerNorm_2"):
            arrays[f"{scope}{norm}/scale"] = (width,)
            arrays[f"{scope}{norm}/bias"] = (width,)
        arrays[scope + "MlpBlock_3/Dense_0/kernel"] = (width, mlp)
        arrays[scope + "MlpBlock_3/Dense_0/bias"] = (mlp,)
        arrays[scope + "MlpBlock_3/Dense_1/kernel"] = (mlp, width)
        arrays[scope + "MlpBlock_3/Dense_1/bias"] = (width,)
    return {
        key: rng.normal(0.0, 0.3, shape).astype("float32")
        for key, shape in arrays.items()
    }


def _layer_norm(x, scale, bias):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-6) * scale + bias


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def class_token_features(p, images, depth, posemb=None):
    """The encoder-normed class token of vit_jax's ViT, in float64."""
    x = images.astype("float64")
    kernel = p["embedding/kernel"]
    patch, width = kernel.shape[0], kernel.shape[-1]
    b, h, w, c = x.shape
    x = x.reshape(b, h // patch, patch, w // patch, patch, c)
    x = np.einsum("bipjqc,pqcd->bijd", x, kernel) + p["embedding/bias"]
    x = x.reshape(b, -1, width)
    cls = np.broadcast_to(p["cls"], (b, 1, width))
    x = np.concatenate([cls, x], axis=1)  # Class token before posemb.
    if posemb is None:
        posemb = p["Transformer/posembed_input/pos_embedding"]
    x = x + posemb
    for i in range(depth):
        s = BLOCK.format(i)
        a = s + "MultiHeadDotProductAttention_1/"
        y = _layer_norm(
            x, p[s + "LayerNorm_0/scale"], p[s + "LayerNorm_0/bias"]
        )
        q, k, v = (
            np.einsum("btd,dhk->bthk", y, p[a + n + "/kernel"])
            + p[a + n + "/bias"]
            for n in ("query", "key", "value")
        )
        logits = np.einsum("bqhk,bshk->bhqs", q, k) / np.sqrt(q.shape[-1])
        weights = np.exp(logits - logits.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        y = np.einsum("bhqs,bshk->bqhk", weights, v)
        x = (
            x
            + np.einsum("bqhk,hkd->bqd", y, p[a + "out/kernel"])
            + p[a + "out/bias"]
        )
        y = _layer_norm(
            x, p[s + "LayerNorm_2/scale"], p[s + "LayerNorm_2/bias"]
        )
        m = s + "MlpBlock_3/"
        y = _gelu_tanh(y @ p[m + "Dense_0/kernel"] + p[m + "Dense_0/bias"])
        x = x + y @ p[m + "Dense_1/kernel"] + p[m + "Dense_1/bias"]
    x = _layer_norm(
        x,
        p["Transformer/encoder_norm/scale"],
        p["Transformer/encoder_norm/bias"],
    )
    return x[:, 0]

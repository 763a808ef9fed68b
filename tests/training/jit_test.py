"""The per-replica step compiles with XLA (`jit_compile=True`)."""

import numpy as np
import tensorflow as tf

from mu2keras import training
from tests.training import helpers


def test_training_step_compiles_with_xla_and_matches_tf():
    root = helpers.make_root(num_layers=1)
    cands = {
        jit: helpers.make_candidate(root, ("encoderblock_0", "encoder_norm"))
        for jit in (True, False)
    }
    results, trainers = {}, {}
    for jit, cand in cands.items():
        cand.score_fn = lambda quality: 1.0
        trainers[jit] = training.Trainer(jit_compile=jit)
        assert trainers[jit].jit_compile is jit
        results[jit] = trainers[jit].train(
            [cand], helpers.train_dataset(), helpers.validation_dataset(), 2, 2
        )[0]
    (workspace,) = trainers[True].cache._entries.values()
    images = tf.zeros((16, helpers.IMAGE_SIZE, helpers.IMAGE_SIZE, 3))
    labels = tf.zeros((16,), tf.int64)
    # XLA lowers the whole gradient computation to one HLO module.
    hlo = workspace._grad_fn.experimental_get_compiler_ir(images, labels)(
        stage="hlo"
    )
    assert "HloModule" in hlo and "dot(" in hlo
    # jit_compile=True and False train to the same result.
    helpers.assert_close(
        results[True].losses, results[False].losses, rtol=1e-5, atol=1e-5
    )
    for a, b in zip(
        helpers.layer_weights(cands[True].layers),
        helpers.layer_weights(cands[False].layers),
        strict=True,
    ):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)

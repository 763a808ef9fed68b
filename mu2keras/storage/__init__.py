"""Storage: where a system lives and how it is served.

`files` (local or gs:// through `tf.io.gfile`, atomic writes), `state` and
`state_codec` (the checksummed state directories), `lease`, `workdir` and
`workdir_export` (one writer per workdir, its SavedModel kept in step),
`export` and `routing` (the whole-system SavedModel and its input checks).
"""

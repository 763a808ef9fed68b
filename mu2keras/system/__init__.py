"""The system: components, paths, the population and its immutability.

A µ2Net system is a population of paths (one retained per task between
visits) over shared components; locks keep every other task's components
frozen (`component`, `path`, `population`), and `immutability` proves,
bit for bit, that earlier tasks never change.
"""

"""The torch-free core: what records, boards, configs and registries are made of.

errors, registry (timm-style, names owned by the decorator), config (tiers: one loader, one
override rule, validated once), grid_spec (grid files as data), records (schema name, grid hash,
target summaries), store (content hashes, atomic writes), metrics and certification (pure math),
threat (drawing targets and references), paper_numbers (quoted once) and protocols (what trainers
and trained encoders offer). Nothing here imports torch, an attack, a defense or a plugin
(tests/test_layering.py); the leaderboard depends on this package alone.
"""

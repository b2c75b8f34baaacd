"""CL-PoisonBench: a benchmark for defenses against poisoning of contrastive pre-training.

The founding attack is PoisonedEncoder (Liu, Jia, Gong; USENIX Security 2022).
"""

__version__ = "0.1.0"

"""The PoisonedEncoder paper's numbers (Liu, Jia, Gong — USENIX Security 2022), written once.

Torch-free data: the experiment tables and the leaderboard's paper comparison both read them.
"""

# Table 1, CIFAR-10 pre-training, ASR on STL10 / Facemask / EuroSAT downstream.
TABLE1_ASR = {"poisoned_encoder": "0.8 / 0.9 / 0.5", "icp": "0.5 / 0.6 / 0.2", "witches_brew": "0.1 / 0.1 / 0.0"}

# Table 5 (algorithms) and Table 6 (architectures), CIFAR-10 / Tiny-ImageNet pre-training, ASR.
TABLE5_ASR = {"simclr": "0.8 / 0.7", "moco_v2": "0.6 / 0.8 (MoCo)"}
TABLE6_ASR = {"resnet18": "0.8 / 0.7", "vgg11": "0.9 / 0.8", "mobilenetv2": "0.8 / 0.8"}

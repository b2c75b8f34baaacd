"""SimCLR augmentations applied to a whole batch of tensors on the training device.

Per view (Chen et al., 2020; PoisonedEncoder §5.1): RandomResizedCrop(32, scale 0.08–1,
ratio 3/4–4/3), horizontal flip p=0.5, ColorJitter(0.4, 0.4, 0.4, 0.1) with p=0.8, grayscale
p=0.2. Crop and flip are one affine ``grid_sample`` for the batch; the colour operations are
tensor arithmetic with per-image factors, following torchvision's definitions. Doing this on
batches instead of per image through PIL keeps augmentation a small share of step time.

Randomness comes only from the ``torch.Generator`` passed in, so a (seed, epoch) pair fixes
every view — which is what makes resumed training bit-identical on CPU.
"""

from __future__ import annotations

import math
import torch
import torch.nn.functional as F

from ..core.settings import AugmentConfig


def _uniform(n: int, lo: float, hi: float, g: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=g, device=device) * (hi - lo) + lo


def sample_crop_boxes(n: int, cfg: AugmentConfig, g: torch.Generator, device, attempts: int = 10):
    """Relative crop sizes (w, h) and centres (cx, cy) in [0, 1] units, torchvision's algorithm.

    Up to ``attempts`` (area, ratio) draws per image; the first that fits is used, else the
    whole image (torchvision's fallback for a square input).
    """
    area = _uniform(n * attempts, *cfg.crop_scale, g, device).view(n, attempts)
    log_r = _uniform(n * attempts, math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1]), g, device)
    ratio = torch.exp(log_r).view(n, attempts)
    w = torch.sqrt(area * ratio)
    h = torch.sqrt(area / ratio)
    ok = (w <= 1) & (h <= 1)
    first = torch.argmax(ok.int(), dim=1)
    any_ok = ok.any(dim=1)
    rows = torch.arange(n, device=device)
    w = torch.where(any_ok, w[rows, first], torch.ones(n, device=device))
    h = torch.where(any_ok, h[rows, first], torch.ones(n, device=device))
    cx = w / 2 + torch.rand(n, generator=g, device=device) * (1 - w)
    cy = h / 2 + torch.rand(n, generator=g, device=device) * (1 - h)
    return w, h, cx, cy


def crop_boxes(n: int, cfg: AugmentConfig, g: torch.Generator, device):
    """(w, h, cx, cy) of each image's crop: a random resized crop, or the whole image without cropping."""
    if cfg.crop:
        return sample_crop_boxes(n, cfg, g, device)
    ones = torch.ones(n, device=device)
    return ones, ones, ones / 2, ones / 2


def localized_boxes(first, cfg: AugmentConfig, g: torch.Generator, device, attempts: int = 10):
    """Boxes for view 2 given view 1's: inside view 1's box enlarged by ``cfg.localized`` of its
    width/height per side (clipped to the image), with the centre inside view 1's box. Size and
    aspect ratio are drawn as a random resized crop *of that region* (same scale and ratio ranges);
    the whole region when no draw fits."""
    w1, h1, cx1, cy1 = first
    n, m = len(w1), cfg.localized
    x0, x1 = (cx1 - w1 / 2 - m * w1).clamp(0, 1), (cx1 + w1 / 2 + m * w1).clamp(0, 1)
    y0, y1 = (cy1 - h1 / 2 - m * h1).clamp(0, 1), (cy1 + h1 / 2 + m * h1).clamp(0, 1)
    rw, rh = x1 - x0, y1 - y0
    area = _uniform(n * attempts, *cfg.crop_scale, g, device).view(n, attempts) * (rw * rh).view(n, 1)
    log_r = _uniform(n * attempts, math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1]), g, device)
    ratio = torch.exp(log_r).view(n, attempts)
    w, h = torch.sqrt(area * ratio), torch.sqrt(area / ratio)
    ok = (w <= rw.view(n, 1)) & (h <= rh.view(n, 1))
    first_ok, any_ok, rows = torch.argmax(ok.int(), dim=1), ok.any(dim=1), torch.arange(n, device=device)
    w = torch.where(any_ok, w[rows, first_ok], rw)
    h = torch.where(any_ok, h[rows, first_ok], rh)
    # Centre: the crop stays in the region and its centre in view 1's box (that interval is never empty).
    lo_x, hi_x = torch.maximum(x0 + w / 2, cx1 - w1 / 2), torch.minimum(x1 - w / 2, cx1 + w1 / 2)
    lo_y, hi_y = torch.maximum(y0 + h / 2, cy1 - h1 / 2), torch.minimum(y1 - h / 2, cy1 + h1 / 2)
    cx = lo_x + torch.rand(n, generator=g, device=device) * (hi_x - lo_x).clamp_min(0)
    cy = lo_y + torch.rand(n, generator=g, device=device) * (hi_y - lo_y).clamp_min(0)
    return w, h, cx, cy


def crop_and_flip(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator, boxes=None) -> torch.Tensor:
    """Crop each image to its box (drawn here unless ``boxes`` is given), resize back, flip at random."""
    n, device = x.shape[0], x.device
    w, h, cx, cy = crop_boxes(n, cfg, g, device) if boxes is None else boxes
    flip = torch.rand(n, generator=g, device=device) < cfg.flip_p
    sign = torch.where(flip, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=device, dtype=x.dtype)
    theta[:, 0, 0] = w * sign
    theta[:, 0, 2] = cx * 2 - 1
    theta[:, 1, 1] = h
    theta[:, 1, 2] = cy * 2 - 1
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma with torchvision's weights (rgb_to_grayscale); returns N×1×H×W."""
    return (0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / maxc.clamp_min(1e-12), torch.zeros_like(maxc))
    safe = delta.clamp_min(1e-12)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(delta > 0, (h / 6.0) % 1.0, torch.zeros_like(h))
    return torch.stack([h, s, maxc], 1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(1)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.long() % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = torch.zeros_like(x)
    for k, (rr, gg, bb) in enumerate(choices):
        m = (i == k).unsqueeze(1)
        out = torch.where(m, torch.stack([rr, gg, bb], 1), out)
    return out


def color_jitter(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """ColorJitter with p=``jitter_p`` per image; images not selected get identity factors.

    torchvision applies the four operations in a random order per call; here the order is drawn
    once per batch (one call = one batch), which keeps the operation vectorised.
    """
    n, device = x.shape[0], x.device
    on = (torch.rand(n, generator=g, device=device) < cfg.jitter_p).to(x.dtype)

    def factor(strength: float) -> torch.Tensor:
        f = _uniform(n, max(0.0, 1 - strength), 1 + strength, g, device)
        return (on * f + (1 - on)).view(n, 1, 1, 1)

    b, c, s = factor(cfg.brightness), factor(cfg.contrast), factor(cfg.saturation)
    hue = (_uniform(n, -cfg.hue, cfg.hue, g, device) * on).view(n, 1, 1)
    order = torch.randperm(4, generator=g, device=device).tolist()
    for op in order:
        if op == 0:
            x = (x * b).clamp(0, 1)
        elif op == 1:
            mean = grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
            x = (x * c + mean * (1 - c)).clamp(0, 1)
        elif op == 2:
            x = (x * s + grayscale(x) * (1 - s)).clamp(0, 1)
        elif cfg.hue > 0:
            hsv = rgb_to_hsv(x)
            hsv = torch.stack([(hsv[:, 0] + hue) % 1.0, hsv[:, 1], hsv[:, 2]], 1)
            x = hsv_to_rgb(hsv).clamp(0, 1)
    return x


def random_grayscale(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    on = (torch.rand(x.shape[0], generator=g, device=x.device) < cfg.grayscale_p).view(-1, 1, 1, 1)
    return torch.where(on, grayscale(x).expand_as(x), x)


def augment(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator, boxes=None) -> torch.Tensor:
    """One SimCLR view of every image in ``x`` (float N×3×H×W in [0, 1]); ``boxes`` fixes the crops."""
    x = crop_and_flip(x, cfg, g, boxes)
    x = color_jitter(x, cfg, g)
    return random_grayscale(x, cfg, g)


def view_pair(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator):
    """Both views of every image. Independent crops (SimCLR) draw exactly as two ``augment`` calls;
    with ``cfg.localized`` view 2's crop is drawn from view 1's (:func:`localized_boxes`)."""
    if not (cfg.crop and cfg.localized > 0):
        return augment(x, cfg, g), augment(x, cfg, g)
    first = crop_boxes(x.shape[0], cfg, g, x.device)
    view1 = augment(x, cfg, g, first)
    return view1, augment(x, cfg, g, localized_boxes(first, cfg, g, x.device))

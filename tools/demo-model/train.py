#!/usr/bin/env python3
"""
Trains Darkroom's demo model, a tiny latent text-to-image diffusion model of synthetic scenes
(colored circles, squares, triangles, stars and rings on a flat background), and exports it in the
Hugging Face ONNX Stable Diffusion layout plus Darkroom's darkroom.json.

Plain PyTorch, no diffusers/transformers: a CLIP-style BPE tokenizer built from the caption words,
a 2-layer causal transformer text encoder, an 8x VAE (4 latent channels), and a conditional UNet with
self- and cross-attention, trained for epsilon prediction on SD 1.x's scaled_linear schedule with
caption dropout for classifier-free guidance. Two things make it learn shapes and places on a CPU
budget: the UNet sees each cell's coordinates (input channels and a positional embedding in every
transformer), and the loss weighs the latent cells that objects cover more than the flat background.

  CPU (Debian python3-torch): /usr/bin/python3 tools/demo-model/train.py --threads 2 --out models/darkroom-demo
  GPU (torch 2.x, CUDA):      python3 tools/demo-model/train.py --device cuda --out models/darkroom-demo

Stages cache their results under --work (dataset, VAE, latents, UNet checkpoints), so a rerun with
the same arguments resumes; --fresh starts over. Everything is seeded (--seed).
"""
import argparse
import json
import math
import os
import random
import re
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
GRAMMAR = json.load(open(os.path.join(HERE, 'grammar.json')))
MAX_LENGTH = 77
RECIPE = 'v2'  # names the UNet checkpoints in --work; bump it when the networks or the loss change
BOS, EOS = '<|startoftext|>', '<|endoftext|>'


def log(*a):
    print(time.strftime('%H:%M:%S'), *a, flush=True)


# ----------------------------------------------------------------------------------------------
# Captions and scenes

def _pick(rng, xs):
    return xs[rng.randrange(len(xs))]


def object_phrase(rng, color, shape, size, allow_size=True):
    words = []
    size_words = GRAMMAR['sizes'][size]['words']
    if allow_size and size_words and rng.random() < 0.8:
        words.append(_pick(rng, size_words))
    words.append(color)
    words.append(_pick(rng, GRAMMAR['shapeWords'][shape]))
    r = rng.random()
    if r < 0.65:
        art = 'an' if words[0][0] in 'aeiou' else 'a'
    elif r < 0.75:
        art = 'the'
    elif r < 0.8:
        art = 'one'
    else:
        art = ''
    return ' '.join(([art] if art else []) + words)


def sample_scene(rng):
    """A random scene and one caption for it. Attributes a caption leaves out are drawn at random."""
    colors = list(GRAMMAR['colors'])
    shapes = GRAMMAR['shapes']
    bg = _pick(rng, colors)
    jit = GRAMMAR['jitter']
    if rng.random() < 0.75:
        color = _pick(rng, [c for c in colors if c != bg])
        shape = _pick(rng, shapes)
        size = _pick(rng, ['small', 'medium', 'large'])
        pos = _pick(rng, list(GRAMMAR['positions']))
        template = _pick(rng, GRAMMAR['single'])
        objs = [(shape, color, size, pos)]
    else:
        c1 = _pick(rng, [c for c in colors if c != bg])
        c2 = _pick(rng, [c for c in colors if c != bg and c != c1])
        s1, s2 = _pick(rng, shapes), _pick(rng, shapes)
        p1, p2 = _pick(rng, GRAMMAR['pairs'])
        z1, z2 = _pick(rng, GRAMMAR['doubleSizes']), _pick(rng, GRAMMAR['doubleSizes'])
        template = _pick(rng, GRAMMAR['double'])
        objs = [(s1, c1, z1, p1), (s2, c2, z2, p2)]
    text = template
    text = text.replace('{obj2}', object_phrase(rng, objs[-1][1], objs[-1][0], objs[-1][2]))
    text = text.replace('{obj}', object_phrase(rng, objs[0][1], objs[0][0], objs[0][2]))
    text = text.replace('{pos2}', _pick(rng, GRAMMAR['positions'][objs[-1][3]]['words']))
    text = text.replace('{pos}', _pick(rng, GRAMMAR['positions'][objs[0][3]]['words']))
    text = text.replace('{bg}', _pick(rng, GRAMMAR['background']))
    text = text.replace('{bg}', bg).replace('{bgcolor}', bg)
    if '{pos' not in template and len(objs) == 1:
        # Position unstated: anywhere among the five places.
        pass
    scene = {'bg': bg, 'objects': []}
    for shape, color, size, pos in objs:
        lo, hi = GRAMMAR['sizes'][size]['radius']
        ax, ay = GRAMMAR['positions'][pos]['at']
        scene['objects'].append({
            'shape': shape, 'color': color,
            'r': lo + (hi - lo) * rng.random(),
            'x': ax + jit * (2 * rng.random() - 1),
            'y': ay + jit * (2 * rng.random() - 1),
        })
    return scene, text


def all_words():
    """Every word a caption can contain (lower case), for the tokenizer."""
    words = set(['a', 'an', 'the', 'one', 'and', 'background', ','])
    words.update(GRAMMAR['colors'])
    for ws in GRAMMAR['shapeWords'].values():
        words.update(ws)
    for s in GRAMMAR['sizes'].values():
        words.update(s['words'])
    for p in GRAMMAR['positions'].values():
        for w in p['words']:
            words.update(w.split())
    for t in GRAMMAR['background'] + GRAMMAR['single'] + GRAMMAR['double']:
        for w in re.findall(r'[a-z]+', re.sub(r'\{[a-z0-9]+\}', ' ', t)):
            words.add(w)
    words.discard(',')
    # Extra everyday words, so common prompt words are whole tokens too.
    words.update(['of', 'on', 'in', 'with', 'image', 'shape', 'shapes', 'two', 'colored', 'simple', 'drawing', 'plain'])
    return sorted(words)


# ----------------------------------------------------------------------------------------------
# Rendering: signed distance functions, anti-aliased over one pixel. scenes.ts draws the same.

def _polygon(n_points, outer, inner):
    """Vertices of a regular polygon (inner=None) or star, pointing up (y grows downwards)."""
    pts = []
    if inner is None:
        for k in range(n_points):
            a = -math.pi / 2 + 2 * math.pi * k / n_points
            pts.append((outer * math.cos(a), outer * math.sin(a)))
    else:
        for k in range(2 * n_points):
            a = -math.pi / 2 + math.pi * k / n_points
            rad = outer if k % 2 == 0 else inner
            pts.append((rad * math.cos(a), rad * math.sin(a)))
    return pts


def _sdf_polygon(px, py, pts):
    d = None
    inside = torch.zeros_like(px, dtype=torch.bool)
    n = len(pts)
    for i in range(n):
        ax, ay = pts[i]
        bx, by = pts[(i + 1) % n]
        ex, ey = bx - ax, by - ay
        wx, wy = px - ax, py - ay
        t = ((wx * ex + wy * ey) / (ex * ex + ey * ey)).clamp(0, 1)
        dx, dy = wx - ex * t, wy - ey * t
        dd = dx * dx + dy * dy
        d = dd if d is None else torch.minimum(d, dd)
        cond = ((py >= ay) != (py >= by)) & (px < (bx - ax) * (py - ay) / (by - ay + 1e-12) + ax)
        inside ^= cond
    d = d.sqrt()
    return torch.where(inside, -d, d)


def shape_sdf(shape, px, py, r):
    """Signed distance in pixels from pixel centers (px, py relative to the shape's center)."""
    if shape == 'circle':
        return (px * px + py * py).sqrt() - r
    if shape == 'square':
        s = 0.86 * r
        qx, qy = px.abs() - s, py.abs() - s
        return (qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2).sqrt() + torch.maximum(qx, qy).clamp(max=0)
    if shape == 'triangle':
        return _sdf_polygon(px, py + 0.12 * r, _polygon(3, 1.22 * r, None))
    if shape == 'star':
        return _sdf_polygon(px, py, _polygon(5, 1.2 * r, 0.5 * r))
    if shape == 'ring':
        return ((px * px + py * py).sqrt() - 0.72 * r).abs() - 0.28 * r
    raise ValueError(shape)


def render(scene, size):
    """Scene → float tensor [3, size, size] in [-1, 1]."""
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32) + 0.5, torch.arange(size, dtype=torch.float32) + 0.5, indexing='ij')
    img = torch.tensor(GRAMMAR['colors'][scene['bg']], dtype=torch.float32).view(3, 1, 1).expand(3, size, size).clone()
    for o in scene['objects']:
        sdf = shape_sdf(o['shape'], xs - o['x'] * size, ys - o['y'] * size, o['r'] * size)
        cov = (0.5 - sdf).clamp(0, 1)
        col = torch.tensor(GRAMMAR['colors'][o['color']], dtype=torch.float32).view(3, 1, 1)
        img = img * (1 - cov) + col * cov
    return img / 127.5 - 1


# ----------------------------------------------------------------------------------------------
# Tokenizer: CLIP's byte-level BPE files, with merges that make every caption word one token.

def bytes_to_unicode():
    bs = list(range(0x21, 0x7f)) + list(range(0xa1, 0xad)) + list(range(0xae, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def _bpe(symbols, ranks):
    word = list(symbols)
    while True:
        best, best_rank = None, None
        for i in range(len(word) - 1):
            r = ranks.get((word[i], word[i + 1]))
            if r is not None and (best_rank is None or r < best_rank):
                best, best_rank = (word[i], word[i + 1]), r
        if best is None:
            return word
        out, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                out.append(word[i] + word[i + 1])
                i += 2
            else:
                out.append(word[i])
                i += 1
        word = out


class Tokenizer:
    PATTERN = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+", re.IGNORECASE)

    def __init__(self, words):
        self.byte_map = bytes_to_unicode()
        base = list(self.byte_map.values())
        tokens = base + [t + '</w>' for t in base]
        known = set(tokens)
        self.merges = []
        self.ranks = {}
        for w in words:
            while True:
                s = _bpe(self._symbols(w), self.ranks)
                if len(s) == 1:
                    break
                pair = (s[0], s[1])
                self.ranks[pair] = len(self.merges)
                self.merges.append(pair)
                if s[0] + s[1] not in known:
                    known.add(s[0] + s[1])
                    tokens.append(s[0] + s[1])
        tokens += [BOS, EOS]
        self.vocab = {t: i for i, t in enumerate(tokens)}
        self.bos, self.eos = self.vocab[BOS], self.vocab[EOS]
        self.cache = {}

    def _symbols(self, word):
        chars = [self.byte_map[b] for b in word.encode('utf-8')]
        chars[-1] += '</w>'
        return chars

    def encode(self, text):
        text = re.sub(r'\s+', ' ', text).strip().lower()
        ids = []
        for piece in self.PATTERN.findall(text):
            if piece not in self.cache:
                self.cache[piece] = [self.vocab.get(t, self.eos) for t in _bpe(self._symbols(piece), self.ranks)]
            ids += self.cache[piece]
        ids = [self.bos] + ids[:MAX_LENGTH - 2] + [self.eos]
        return ids + [self.eos] * (MAX_LENGTH - len(ids))

    def save(self, d):
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'vocab.json'), 'w', encoding='utf-8') as f:
            json.dump(self.vocab, f, ensure_ascii=False)
        with open(os.path.join(d, 'merges.txt'), 'w', encoding='utf-8') as f:
            f.write('#version: 0.2\n' + ''.join(f'{a} {b}\n' for a, b in self.merges))
        special = {'bos_token': BOS, 'eos_token': EOS, 'pad_token': EOS, 'unk_token': EOS}
        config = {'add_prefix_space': False, 'clean_up_tokenization_spaces': True, 'do_lower_case': True,
                  'errors': 'replace', 'model_max_length': MAX_LENGTH, 'tokenizer_class': 'CLIPTokenizer', **special}
        write_json(os.path.join(d, 'tokenizer_config.json'), config)
        write_json(os.path.join(d, 'special_tokens_map.json'), special)


# ----------------------------------------------------------------------------------------------
# Networks

def groups(c):
    return 8 if c % 8 == 0 else 1


class VaeEncoder(nn.Module):
    """256 → 32: three stride-2 convolutions and a residual block; outputs mean and log-variance."""

    def __init__(self, latent=4):
        super().__init__()
        self.c1 = nn.Conv2d(3, 32, 3, 2, 1)
        self.c2 = nn.Conv2d(32, 64, 3, 2, 1)
        self.c3 = nn.Conv2d(64, 96, 3, 2, 1)
        self.r1 = nn.Conv2d(96, 96, 3, 1, 1)
        self.r2 = nn.Conv2d(96, 96, 3, 1, 1)
        self.out = nn.Conv2d(96, 2 * latent, 3, 1, 1)

    def forward(self, x):
        h = F.silu(self.c1(x))
        h = F.silu(self.c2(h))
        h = self.c3(h)
        h = h + self.r2(F.silu(self.r1(F.silu(h))))
        return self.out(F.silu(h))


class VaeDecoder(nn.Module):
    """32 → 256: a residual block, then three nearest-neighbour 2x upsamplings, each with a convolution."""

    def __init__(self, latent=4):
        super().__init__()
        self.inp = nn.Conv2d(latent, 96, 3, 1, 1)
        self.r1 = nn.Conv2d(96, 96, 3, 1, 1)
        self.r2 = nn.Conv2d(96, 96, 3, 1, 1)
        self.u1 = nn.Conv2d(96, 64, 3, 1, 1)
        self.u2 = nn.Conv2d(64, 48, 3, 1, 1)
        self.u3 = nn.Conv2d(48, 24, 3, 1, 1)
        self.out = nn.Conv2d(24, 3, 3, 1, 1)

    def forward(self, z):
        h = self.inp(z)
        h = h + self.r2(F.silu(self.r1(F.silu(h))))
        h = F.silu(self.u1(F.interpolate(F.silu(h), scale_factor=2.0, mode='nearest')))
        h = F.silu(self.u2(F.interpolate(h, scale_factor=2.0, mode='nearest')))
        h = F.silu(self.u3(F.interpolate(h, scale_factor=2.0, mode='nearest')))
        return self.out(h)


class Attention(nn.Module):
    def __init__(self, dim, heads, context_dim=None):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(context_dim or dim, dim, bias=False)
        self.v = nn.Linear(context_dim or dim, dim, bias=False)
        self.o = nn.Linear(dim, dim)

    def forward(self, x, context=None, mask=None):
        b, n, d = x.shape
        c = x if context is None else context
        h = self.heads
        q = self.q(x).reshape(b, n, h, d // h).transpose(1, 2)
        k = self.k(c).reshape(b, c.shape[1], h, d // h).transpose(1, 2)
        v = self.v(c).reshape(b, c.shape[1], h, d // h).transpose(1, 2)
        w = torch.matmul(q, k.transpose(2, 3)) * (1.0 / math.sqrt(d // h))
        if mask is not None:
            w = w + mask
        a = torch.matmul(w.softmax(-1), v)
        return self.o(a.transpose(1, 2).reshape(b, n, d))


class TextEncoder(nn.Module):
    """CLIPTextModel-like: token + position embeddings, pre-LN causal transformer layers, final LN."""

    def __init__(self, vocab, dim=128, layers=2, heads=4):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(MAX_LENGTH, dim) * 0.02)
        self.layers = nn.ModuleList()
        for _ in range(layers):
            self.layers.append(nn.ModuleDict({
                'ln1': nn.LayerNorm(dim), 'attn': Attention(dim, heads), 'ln2': nn.LayerNorm(dim),
                'fc1': nn.Linear(dim, 4 * dim), 'fc2': nn.Linear(4 * dim, dim)}))
        self.ln = nn.LayerNorm(dim)
        mask = torch.full((MAX_LENGTH, MAX_LENGTH), -1e4).triu(1)
        self.register_buffer('mask', mask, persistent=False)

    def forward(self, ids):
        h = self.tok(ids) + self.pos
        for l in self.layers:
            h = h + l['attn'](l['ln1'](h), mask=self.mask)
            m = l['fc1'](l['ln2'](h))
            h = h + l['fc2'](m * torch.sigmoid(1.702 * m))
        return self.ln(h)


class TextEncoderExport(nn.Module):
    def __init__(self, te):
        super().__init__()
        self.te = te

    def forward(self, input_ids):
        last = self.te(input_ids)
        eos = input_ids.argmax(-1)
        onehot = (torch.arange(MAX_LENGTH, device=input_ids.device).unsqueeze(0) == eos.unsqueeze(1)).float()
        pooled = torch.matmul(onehot.unsqueeze(1), last).squeeze(1)
        return last, pooled


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim):
        super().__init__()
        self.n1 = nn.GroupNorm(groups(cin), cin)
        self.c1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.t = nn.Linear(tdim, cout)
        self.n2 = nn.GroupNorm(groups(cout), cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.t(temb)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return self.skip(x) + h


COORD_CHANNELS = 10


def coord_features(x):
    """[b, 10, h, w]: each cell's center x and y in [-1, 1] and their sines and cosines at two frequencies.

    Position words ("on the left") can only be bound to places when the network knows where each cell
    is; convolutions learn that slowly from the zero padding at the borders. The grid is computed from
    x's own height and width (cumulative sums of ones), so the exported graph works at every size.
    """
    ones = torch.ones_like(x[:, :1])
    ys, xs = ones.cumsum(2), ones.cumsum(3)
    h, w = ones.sum(2, keepdim=True), ones.sum(3, keepdim=True)
    g = torch.cat([(2 * xs - 1) / w - 1, (2 * ys - 1) / h - 1], 1)
    return torch.cat([g, torch.sin(math.pi * g), torch.cos(math.pi * g), torch.sin(2 * math.pi * g), torch.cos(2 * math.pi * g)], 1)


class Transformer2D(nn.Module):
    """Stable Diffusion's spatial transformer (self-attention, cross-attention on the text, MLP), with a
    positional embedding of each cell's coordinates added to its token."""

    def __init__(self, c, context_dim, head_dim=32):
        super().__init__()
        heads = max(1, c // head_dim)
        self.norm = nn.GroupNorm(groups(c), c)
        self.proj_in = nn.Linear(c, c)
        self.pos = nn.Linear(COORD_CHANNELS, c)
        self.ln1, self.attn1 = nn.LayerNorm(c), Attention(c, heads)
        self.ln2, self.attn2 = nn.LayerNorm(c), Attention(c, heads, context_dim)
        self.ln3 = nn.LayerNorm(c)
        self.ff1, self.ff2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.proj_out = nn.Linear(c, c)

    def forward(self, x, context):
        b, c, hh, ww = x.shape
        h = self.norm(x).reshape(b, c, hh * ww).transpose(1, 2)
        h = self.proj_in(h) + self.pos(coord_features(x).reshape(b, COORD_CHANNELS, hh * ww).transpose(1, 2))
        h = h + self.attn1(self.ln1(h))
        h = h + self.attn2(self.ln2(h), context)
        h = h + self.ff2(F.gelu(self.ff1(self.ln3(h))))
        h = self.proj_out(h)
        return x + h.transpose(1, 2).reshape(b, c, hh, ww)


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    a = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=1)


class UNet(nn.Module):
    """Three resolutions (latent, /2, /4); attention with text cross-attention at /2 and /4; the cells'
    coordinates enter with the input and every transformer."""

    def __init__(self, context_dim=128, ch=(32, 96, 128), tdim=256):
        super().__init__()
        c0, c1, c2 = ch
        self.tdim0 = 64
        self.temb = nn.Sequential(nn.Linear(self.tdim0, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.conv_in = nn.Conv2d(4 + COORD_CHANNELS, c0, 3, 1, 1)
        self.d0 = ResBlock(c0, c0, tdim)
        self.down0 = nn.Conv2d(c0, c0, 3, 2, 1)
        self.d1, self.a1 = ResBlock(c0, c1, tdim), Transformer2D(c1, context_dim)
        self.down1 = nn.Conv2d(c1, c1, 3, 2, 1)
        self.d2, self.a2 = ResBlock(c1, c2, tdim), Transformer2D(c2, context_dim)
        self.m1, self.ma, self.m2 = ResBlock(c2, c2, tdim), Transformer2D(c2, context_dim), ResBlock(c2, c2, tdim)
        self.u2, self.ua2 = ResBlock(c2 + c2, c2, tdim), Transformer2D(c2, context_dim)
        self.u1, self.ua1 = ResBlock(c2 + c1, c1, tdim), Transformer2D(c1, context_dim)
        self.u0 = ResBlock(c1 + c0, c0, tdim)
        self.norm_out = nn.GroupNorm(groups(c0), c0)
        self.conv_out = nn.Conv2d(c0, 4, 3, 1, 1)

    def forward(self, sample, timestep, encoder_hidden_states):
        ctx = encoder_hidden_states
        t = self.temb(timestep_embedding(timestep, self.tdim0))
        h = self.conv_in(torch.cat([sample, coord_features(sample)], 1))
        s0 = self.d0(h, t)
        h = self.down0(s0)
        s1 = self.a1(self.d1(h, t), ctx)
        h = self.down1(s1)
        s2 = self.a2(self.d2(h, t), ctx)
        h = self.m2(self.ma(self.m1(s2, t), ctx), t)
        h = self.ua2(self.u2(torch.cat([h, s2], 1), t), ctx)
        h = F.interpolate(h, size=(s1.shape[2], s1.shape[3]), mode='nearest')
        h = self.ua1(self.u1(torch.cat([h, s1], 1), t), ctx)
        h = F.interpolate(h, size=(s0.shape[2], s0.shape[3]), mode='nearest')
        h = self.u0(torch.cat([h, s0], 1), t)
        return self.conv_out(F.silu(self.norm_out(h)))


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# ----------------------------------------------------------------------------------------------
# Stages

def write_json(path, value):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(value, f, indent=2)
        f.write('\n')


def make_dataset(args, n, size, seed):
    path = os.path.join(args.work, f'data-{size}-{n}-{seed}.pt')
    if os.path.exists(path):
        return torch.load(path)
    rng = random.Random(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small element-wise ops: threads only wait on each other
    t0 = time.time()
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    captions = []
    for i in range(n):
        scene, text = sample_scene(rng)
        images[i] = ((render(scene, size) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        captions.append(text)
    log(f'rendered {n} scenes at {size}px in {time.time() - t0:.0f} s')
    torch.set_num_threads(threads)
    data = {'images': images, 'captions': captions}
    torch.save(data, path)
    return data


def to_float(u8):
    return u8.float() / 127.5 - 1


def train_vae(args, data):
    path = os.path.join(args.work, f'vae-{args.vae_steps}.pt')
    enc, dec = VaeEncoder(), VaeDecoder()
    if os.path.exists(path):
        sd = torch.load(path)
        enc.load_state_dict(sd['enc'])
        dec.load_state_dict(sd['dec'])
        return enc, dec
    torch.manual_seed(args.seed + 1)
    dev = args.device
    enc.to(dev), dec.to(dev)
    log(f'VAE: encoder {n_params(enc):,} + decoder {n_params(dec):,} parameters, {args.vae_steps} steps')
    opt = torch.optim.AdamW(list(enc.parameters()) + list(dec.parameters()), lr=2e-3, weight_decay=0.0)
    images = data['images']
    g = torch.Generator().manual_seed(args.seed + 2)
    crop, bs = 128, args.vae_batch
    t0 = time.time()
    for step in range(args.vae_steps):
        lr = 2e-3 * min(1.0, (step + 1) / 100) * (0.5 * (1 + math.cos(math.pi * step / args.vae_steps)) * 0.95 + 0.05)
        for pg in opt.param_groups:
            pg['lr'] = lr
        idx = torch.randint(0, images.shape[0], (bs,), generator=g)
        ox, oy = torch.randint(0, (images.shape[3] - crop) // 8 + 1, (2,), generator=g).tolist()
        x = to_float(images[idx][:, :, oy * 8:oy * 8 + crop, ox * 8:ox * 8 + crop]).to(dev)
        p = enc(x)
        mean, logvar = p[:, :4], p[:, 4:].clamp(-30, 20)
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=None, device=dev)
        y = dec(z)
        rec = (y - x).abs().mean() + ((y - x) ** 2).mean()
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).mean()
        loss = rec + args.vae_kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == args.vae_steps - 1:
            log(f'VAE step {step} rec {rec.item():.4f} kl {kl.item():.2f} lr {lr:.2e} ({time.time() - t0:.0f} s)')
    enc.cpu(), dec.cpu()
    torch.save({'enc': enc.state_dict(), 'dec': dec.state_dict()}, path)
    return enc, dec


@torch.no_grad()
def encode_latents(args, enc, data, tag):
    path = os.path.join(args.work, f'latents-{tag}-{args.vae_steps}.pt')
    if os.path.exists(path):
        return torch.load(path)
    enc.to(args.device).eval()
    out = []
    t0 = time.time()
    for i in range(0, data['images'].shape[0], 64):
        x = to_float(data['images'][i:i + 64]).to(args.device)
        out.append(enc(x)[:, :4].cpu())
    lat = torch.cat(out)
    enc.cpu()
    log(f'encoded {lat.shape[0]} images to {tuple(lat.shape[1:])} latents in {time.time() - t0:.0f} s')
    torch.save(lat, path)
    return lat


def object_masks(args, data, tag):
    """[n, 1, h/8, w/8] uint8: 1 on latent cells an object touches (with one cell of margin).

    The background fills most of every image, so a plain mean-squared loss spends most of its signal on
    a flat color; the masks let the loss weigh the objects' cells more (--object-weight).
    """
    path = os.path.join(args.work, f'masks-{tag}.pt')
    if os.path.exists(path):
        return torch.load(path)
    out = []
    for i in range(0, data['images'].shape[0], 500):
        x = data['images'][i:i + 500].to(torch.int16)
        m = ((x - x[:, :, :1, :1]).abs().amax(1, keepdim=True) > 24).float()  # the corner is always background
        m = F.max_pool2d(F.max_pool2d(m, 8), 3, 1, 1)
        out.append(m.to(torch.uint8))
    masks = torch.cat(out)
    torch.save(masks, path)
    return masks


def scaled_linear_alphas_cumprod():
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0).float()


def train_unet(args, tok, sets, scale):
    """sets: list of (latents, token ids, object masks, weight) per resolution. Returns the EMA text encoder and UNet."""
    torch.manual_seed(args.seed + 3)
    te, unet = TextEncoder(len(tok.vocab), dim=args.text_dim), UNet(context_dim=args.text_dim)
    path = os.path.join(args.work, f'unet-{RECIPE}-{args.steps}.pt')
    if args.from_partial and not args.continue_steps:
        path = os.path.join(args.work, f'unet-{RECIPE}-partial.pt')
        log(f'exporting the partial checkpoint {path} (step {torch.load(path)["step"]})')
    if os.path.exists(path):
        sd = torch.load(path)
        te.load_state_dict(sd['te'])
        unet.load_state_dict(sd['unet'])
    else:
        log(f'text encoder {n_params(te):,} parameters, UNet {n_params(unet):,} parameters, {args.steps} steps at batch {args.batch}')
        te, unet = train_loop(args, tok, sets, scale, te, unet, args.steps, args.lr, args.seed + 4, f'unet-{RECIPE}-partial.pt')
        torch.save({'te': te.state_dict(), 'unet': unet.state_dict()}, path)
    if not args.continue_steps:
        return te, unet
    # A second run from the first one's EMA weights, with its own warm-up and cosine schedule.
    path2 = os.path.join(args.work, f'unet-{RECIPE}-{args.steps}+{args.continue_steps}.pt')
    if args.from_partial:
        path2 = os.path.join(args.work, f'unet-{RECIPE}-continue-partial.pt')
        log(f'exporting the partial checkpoint {path2} (step {torch.load(path2)["step"]})')
    if os.path.exists(path2):
        sd = torch.load(path2)
        te.load_state_dict(sd['te'])
        unet.load_state_dict(sd['unet'])
        return te, unet
    log(f'continuing for {args.continue_steps} steps at batch {args.batch}, peak learning rate {args.continue_lr}')
    te, unet = train_loop(args, tok, sets, scale, te, unet, args.continue_steps, args.continue_lr, args.seed + 5, f'unet-{RECIPE}-continue-partial.pt')
    torch.save({'te': te.state_dict(), 'unet': unet.state_dict()}, path2)
    return te, unet


def train_loop(args, tok, sets, scale, te, unet, steps, peak_lr, seed, partial_name):
    ema_te, ema_unet = TextEncoder(len(tok.vocab), dim=args.text_dim), UNet(context_dim=args.text_dim)
    ema_te.load_state_dict(te.state_dict())
    ema_unet.load_state_dict(unet.state_dict())
    dev = args.device
    te.to(dev), unet.to(dev), ema_te.to(dev), ema_unet.to(dev)
    params = list(te.parameters()) + list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=peak_lr, weight_decay=0.01)
    acp = scaled_linear_alphas_cumprod().to(dev)
    g = torch.Generator().manual_seed(seed)
    empty = torch.tensor(tok.encode(''), dtype=torch.long)
    weights = torch.tensor([w for _, _, _, w in sets])
    ema_params = list(ema_te.parameters()) + list(ema_unet.parameters())
    t0 = time.time()
    for step in range(steps):
        lr = peak_lr * min(1.0, (step + 1) / 200) * (0.5 * (1 + math.cos(math.pi * step / steps)) * 0.9 + 0.1)
        for pg in opt.param_groups:
            pg['lr'] = lr
        k = int(torch.multinomial(weights, 1, generator=g))
        lat, ids, masks = sets[k][0], sets[k][1], sets[k][2]
        bs = args.batch if lat.shape[2] >= 32 else args.batch * 2
        idx = torch.randint(0, lat.shape[0], (bs,), generator=g)
        x0 = lat[idx] * scale
        cap = ids[idx].clone()
        drop = torch.rand(bs, generator=g) < 0.1
        cap[drop] = empty
        t = torch.randint(0, 1000, (bs,), generator=g)
        noise = torch.randn(x0.shape, generator=g) + 0.05 * torch.randn(bs, 4, 1, 1, generator=g)
        wmap = 1 + args.object_weight * masks[idx].float()
        x0, cap, t, noise, wmap = x0.to(dev), cap.to(dev), t.to(dev), noise.to(dev), wmap.to(dev)
        a = acp[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        pred = unet(xt, t.float(), te(cap))
        snr = a.view(-1) / (1 - a.view(-1))
        w = snr.clamp(max=5.0) / snr
        err = ((pred - noise) ** 2 * wmap).mean(dim=(1, 2, 3)) / wmap.mean(dim=(1, 2, 3))
        loss = (err * w).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema_params, params):
                pe.mul_(decay).add_(p.detach(), alpha=1 - decay)
        if step % 50 == 0 or step == steps - 1:
            el = time.time() - t0
            log(f'UNet step {step} loss {loss.item():.4f} lr {lr:.2e} res {lat.shape[2]} ({el:.0f} s, {el / (step + 1):.2f} s/step)')
        if args.checkpoint_every and step > 0 and step % args.checkpoint_every == 0:
            torch.save({'te': ema_te.state_dict(), 'unet': ema_unet.state_dict(), 'step': step}, os.path.join(args.work, partial_name))
    ema_te.cpu(), ema_unet.cpu()
    return ema_te, ema_unet


# ----------------------------------------------------------------------------------------------
# Export

def export_onnx(module, inputs, path, input_names, output_names, dynamic_axes):
    import onnx
    os.makedirs(os.path.dirname(path), exist_ok=True)
    module.eval()
    tmp = path + '.tmp'
    with torch.no_grad():
        torch.onnx.export(module, inputs, tmp, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=17, do_constant_folding=True)
    m = onnx.load(tmp)
    m.ir_version = min(m.ir_version, 8)
    m.producer_name = 'darkroom tools/demo-model/train.py'
    m.producer_version = '1'
    m.doc_string = 'Darkroom demo model (synthetic shapes), trained by tools/demo-model/train.py'
    onnx.checker.check_model(m)
    onnx.save(m, path)
    os.remove(tmp)


def export_model(args, tok, te, unet, enc, dec, scale):
    out = args.out
    os.makedirs(out, exist_ok=True)
    for m in (te, unet, enc, dec):
        m.cpu().eval()
    tok.save(os.path.join(out, 'tokenizer'))
    ids = torch.tensor([tok.encode('a red circle')], dtype=torch.long)
    export_onnx(TextEncoderExport(te), (ids,), os.path.join(out, 'text_encoder', 'model.onnx'), ['input_ids'],
                ['last_hidden_state', 'pooler_output'], {'input_ids': {0: 'batch'}, 'last_hidden_state': {0: 'batch'}, 'pooler_output': {0: 'batch'}})
    write_json(os.path.join(out, 'text_encoder', 'config.json'), {
        'architectures': ['CLIPTextModel'], 'model_type': 'clip_text_model', 'hidden_size': args.text_dim,
        'intermediate_size': 4 * args.text_dim, 'num_attention_heads': 4, 'num_hidden_layers': 2,
        'max_position_embeddings': MAX_LENGTH, 'vocab_size': len(tok.vocab), 'hidden_act': 'quick_gelu',
        'bos_token_id': tok.bos, 'eos_token_id': tok.eos, 'pad_token_id': tok.eos})
    sample = torch.randn(2, 4, 32, 32)
    export_onnx(unet, (sample, torch.tensor([999.0, 999.0]), torch.randn(2, MAX_LENGTH, args.text_dim)),
                os.path.join(out, 'unet', 'model.onnx'), ['sample', 'timestep', 'encoder_hidden_states'], ['out_sample'],
                {'sample': {0: 'batch', 2: 'height', 3: 'width'}, 'timestep': {0: 'batch'},
                 'encoder_hidden_states': {0: 'batch', 1: 'sequence'}, 'out_sample': {0: 'batch', 2: 'height', 3: 'width'}})
    write_json(os.path.join(out, 'unet', 'config.json'), {
        '_class_name': 'UNet2DConditionModel', '_diffusers_version': '0.30.0', 'in_channels': 4, 'out_channels': 4,
        'sample_size': 32, 'cross_attention_dim': args.text_dim, 'block_out_channels': [32, 96, 128],
        'attention_head_dim': 32, 'note': 'Darkroom demo UNet (tools/demo-model/train.py), not a diffusers architecture'})
    vae_config = {'_class_name': 'AutoencoderKL', '_diffusers_version': '0.30.0', 'in_channels': 3, 'out_channels': 3,
                  'latent_channels': 4, 'block_out_channels': [32, 64, 96, 96], 'sample_size': 256,
                  'scaling_factor': round(float(scale), 5),
                  'note': 'Darkroom demo VAE (tools/demo-model/train.py): 8x down, not a diffusers architecture'}
    export_onnx(dec, (torch.randn(1, 4, 32, 32),), os.path.join(out, 'vae_decoder', 'model.onnx'), ['latent_sample'], ['sample'],
                {'latent_sample': {0: 'batch', 2: 'height', 3: 'width'}, 'sample': {0: 'batch', 2: 'height', 3: 'width'}})
    write_json(os.path.join(out, 'vae_decoder', 'config.json'), vae_config)
    export_onnx(enc, (torch.randn(1, 3, 256, 256),), os.path.join(out, 'vae_encoder', 'model.onnx'), ['sample'], ['latent_parameters'],
                {'sample': {0: 'batch', 2: 'height', 3: 'width'}, 'latent_parameters': {0: 'batch', 2: 'height', 3: 'width'}})
    write_json(os.path.join(out, 'vae_encoder', 'config.json'), vae_config)
    os.makedirs(os.path.join(out, 'scheduler'), exist_ok=True)
    write_json(os.path.join(out, 'scheduler', 'scheduler_config.json'), {
        '_class_name': 'EulerAncestralDiscreteScheduler', '_diffusers_version': '0.30.0', 'beta_start': 0.00085,
        'beta_end': 0.012, 'beta_schedule': 'scaled_linear', 'num_train_timesteps': 1000, 'prediction_type': 'epsilon',
        'set_alpha_to_one': False, 'skip_prk_steps': True, 'steps_offset': 1, 'clip_sample': False,
        'timestep_spacing': 'leading', 'trained_betas': None})
    write_json(os.path.join(out, 'model_index.json'), {
        '_class_name': 'OnnxStableDiffusionPipeline', '_diffusers_version': '0.30.0', 'feature_extractor': [None, None],
        'requires_safety_checker': False, 'safety_checker': [None, None],
        'scheduler': ['diffusers', 'EulerAncestralDiscreteScheduler'], 'text_encoder': ['transformers', 'CLIPTextModel'],
        'tokenizer': ['transformers', 'CLIPTokenizer'], 'unet': ['diffusers', 'UNet2DConditionModel'],
        'vae_decoder': ['diffusers', 'AutoencoderKL'], 'vae_encoder': ['diffusers', 'AutoencoderKL']})
    manifest_path = os.path.join(out, 'darkroom.json')
    defaults = {'width': 256, 'height': 256, 'steps': 20, 'guidance': args.guidance, 'scheduler': args.scheduler}
    write_json(manifest_path, {
        'id': 'darkroom-demo', 'name': 'Darkroom demo (synthetic shapes)', 'family': 'sd1',
        'description': ('A tiny latent diffusion model trained by tools/demo-model/train.py on scenes it draws itself: '
                        'circles, squares, triangles, stars and rings in eight colors, small or large, left/right/top/bottom/center, '
                        'on a colored background; one or two objects. Try "a large red star on a blue background".'),
        'license': 'Apache-2.0', 'defaults': defaults,
        'schedulers': ['ddim', 'ddpm', 'pndm', 'euler', 'euler_a', 'lms', 'heun', 'dpmpp_2m', 'dpmpp_2m_karras',
                       'dpmpp_2m_sde', 'dpmpp_2m_sde_karras', 'unipc'],
        'minSize': 128, 'maxSize': 512})
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out) for f in fs)
    log(f'exported to {out}: {total:,} bytes')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=os.path.join(HERE, '..', '..', 'models', 'darkroom-demo'))
    ap.add_argument('--work', default=os.path.join(tempfile.gettempdir(), 'darkroom-demo-work'))
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--threads', type=int, default=0, help='CPU threads for torch (0: torch default)')
    ap.add_argument('--seed', type=int, default=1234)
    ap.add_argument('--images', type=int, default=12000, help='training scenes at 256 px')
    ap.add_argument('--images-small', type=int, default=4000, help='training scenes at 128 px (size robustness)')
    ap.add_argument('--vae-steps', type=int, default=1500)
    ap.add_argument('--vae-batch', type=int, default=16)
    ap.add_argument('--vae-kl', type=float, default=1e-5)
    ap.add_argument('--steps', type=int, default=16000)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--lr', type=float, default=5e-4)
    ap.add_argument('--ema', type=float, default=0.998)
    ap.add_argument('--text-dim', type=int, default=128)
    ap.add_argument('--guidance', type=float, default=7.0)
    ap.add_argument('--scheduler', default='euler_a')
    ap.add_argument('--object-weight', type=float, default=4.0, help='extra loss weight on latent cells that objects touch')
    ap.add_argument('--checkpoint-every', type=int, default=500)
    ap.add_argument('--continue-steps', type=int, default=0, help='then train this many more steps from the EMA weights')
    ap.add_argument('--continue-lr', type=float, default=3e-4)
    ap.add_argument('--from-partial', action='store_true', help='export the last UNet checkpoint of an unfinished run')
    ap.add_argument('--fresh', action='store_true', help='ignore cached stages under --work')
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out = os.path.abspath(args.out)
    args.work = os.path.abspath(os.path.join(args.work, f'seed{args.seed}'))
    if args.fresh and os.path.isdir(args.work):
        import shutil
        shutil.rmtree(args.work)
    os.makedirs(args.work, exist_ok=True)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    t_start = time.time()
    log(f'torch {torch.__version__} on {args.device}, {torch.get_num_threads()} threads; work dir {args.work}')

    tok = Tokenizer(all_words())
    log(f'tokenizer: {len(tok.vocab)} tokens, {len(tok.merges)} merges')
    big = make_dataset(args, args.images, 256, args.seed + 10)
    small = make_dataset(args, args.images_small, 128, args.seed + 11) if args.images_small else None
    enc, dec = train_vae(args, big)
    lat_big = encode_latents(args, enc, big, f'256-{args.images}')
    std = lat_big.std().item()
    scale = 1.0 / std
    log(f'latent mean {lat_big.mean().item():.4f} std {std:.4f} → scaling_factor {scale:.5f}')
    ids_big = torch.tensor([tok.encode(c) for c in big['captions']], dtype=torch.long)
    sets = [(lat_big, ids_big, object_masks(args, big, f'256-{args.images}'), 3.0)]
    if small is not None:
        lat_small = encode_latents(args, enc, small, f'128-{args.images_small}')
        sets.append((lat_small, torch.tensor([tok.encode(c) for c in small['captions']], dtype=torch.long),
                     object_masks(args, small, f'128-{args.images_small}'), 1.0))
    te, unet = train_unet(args, tok, sets, scale)
    export_model(args, tok, te, unet, enc, dec, scale)
    log(f'done in {(time.time() - t_start) / 60:.1f} min')


if __name__ == '__main__':
    main()

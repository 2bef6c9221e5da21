#!/usr/bin/env python3
"""PyTorch reference for `darkroom bench`: the same Stable Diffusion-shaped networks in plain torch.

The architectures are diffusers' UNet2DConditionModel, transformers' CLIPTextModel(WithProjection)
and diffusers' AutoencoderKL decoder, written out here (diffusers is not needed), built from the
very config Darkroom builds its ONNX models from:

    npx darkroom bench --print-config --shape sd15 > sd15.json
    python3 tools/bench/torch_reference.py --config sd15.json --device cuda --dtype fp16 \\
        --modes eager,compile --batches 1,2,4,8 --json torch.json

Parameter names equal diffusers' / transformers' state-dict names, so `--weights-from <model dir>`
loads the weights of a Darkroom benchmark model (tools/bench/make.ts) and `--verify` reports how
far the two implementations are apart on the same inputs (the test suite runs this on CPU).

Timings: UNet forward per batch size, end to end for one image (text encoder for prompt and
negative prompt, `steps` UNet calls with classifier-free guidance and an Euler step, VAE decode),
and throughput (n images per call). The JSON has the same fields as Darkroom's bench JSON.
"""
import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


# --------------------------------------------------------------------------------------------
# Networks


def attention(q, k, v, heads, mask=None):
    """q [b, n, h*d], k/v [b, m, h*d] -> [b, n, h*d]; SDPA when torch has it (what diffusers uses)."""
    b, n, c = q.shape
    d = c // heads
    q = q.view(b, n, heads, d).transpose(1, 2)
    k = k.view(b, -1, heads, d).transpose(1, 2)
    v = v.view(b, -1, heads, d).transpose(1, 2)
    if HAS_SDPA:
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    else:
        s = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(d))
        if mask is not None:
            s = s + mask
        o = torch.matmul(s.softmax(dim=-1), v)
    return o.transpose(1, 2).reshape(b, n, c)


def timestep_embedding(t, dim):
    """diffusers' get_timestep_embedding(flip_sin_to_cos=True, downscale_freq_shift=0), float32."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout) if temb else None
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb_act=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_emb_proj is not None:
            h = h + self.time_emb_proj(temb_act)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + h


class Attention(nn.Module):
    def __init__(self, dim, kv_dim, heads, bias=False):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_k = nn.Linear(kv_dim, dim, bias=bias)
        self.to_v = nn.Linear(kv_dim, dim, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])

    def forward(self, x, kv=None):
        kv = x if kv is None else kv
        return self.to_out[0](attention(self.to_q(x), self.to_k(kv), self.to_v(kv), self.heads))


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * inner)

    def forward(self, x):
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, ctx, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, ctx, heads)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = nn.Module()
        self.ff.net = nn.ModuleList([GEGLU(dim, 4 * dim), nn.Identity(), nn.Linear(4 * dim, dim)])

    def forward(self, x, context):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), context)
        n = self.norm3(x)
        return x + self.ff.net[2](self.ff.net[0](n))


class Transformer2DModel(nn.Module):
    def __init__(self, dim, ctx, heads, depth, groups, linear):
        super().__init__()
        self.linear = linear
        self.norm = nn.GroupNorm(groups, dim, eps=1e-6)
        self.proj_in = nn.Linear(dim, dim) if linear else nn.Conv2d(dim, dim, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(dim, ctx, heads) for _ in range(depth)])
        self.proj_out = nn.Linear(dim, dim) if linear else nn.Conv2d(dim, dim, 1)

    def forward(self, x, context):
        b, c, hh, ww = x.shape
        h = self.norm(x)
        if not self.linear:
            h = self.proj_in(h)
        h = h.permute(0, 2, 3, 1).reshape(b, hh * ww, c)
        if self.linear:
            h = self.proj_in(h)
        for blk in self.transformer_blocks:
            h = blk(h, context)
        if self.linear:
            h = self.proj_out(h)
        h = h.reshape(b, hh, ww, c).permute(0, 3, 1, 2)
        if not self.linear:
            h = self.proj_out(h)
        return h + x


class Sampler(nn.Module):
    """Downsample2D (stride-2 conv) or Upsample2D (nearest x2 + conv), with its `conv` child."""

    def __init__(self, channels, up):
        super().__init__()
        self.up = up
        self.conv = nn.Conv2d(channels, channels, 3, stride=1 if up else 2, padding=1)

    def forward(self, x):
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x)


class UNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        ch = cfg["blockChannels"]
        c0, temb, groups = ch[0], 4 * ch[0], cfg["normGroups"]
        depth, heads, ctx, lin = cfg["transformerDepth"], cfg["heads"], cfg["contextDim"], cfg["linearProjection"]
        self.conv_in = nn.Conv2d(cfg["inChannels"], c0, 3, padding=1)
        self.time_embedding = nn.Module()
        self.time_embedding.linear_1 = nn.Linear(c0, temb)
        self.time_embedding.linear_2 = nn.Linear(temb, temb)
        add = cfg.get("addition")
        if add:
            self.add_embedding = nn.Module()
            self.add_embedding.linear_1 = nn.Linear(add["textEmbedsDim"] + add["timeIds"] * add["timeEmbedDim"], temb)
            self.add_embedding.linear_2 = nn.Linear(temb, temb)
        res = lambda i, o: ResnetBlock2D(i, o, temb, groups, 1e-5)
        tr = lambda c, b, d: Transformer2DModel(c, ctx, heads[b], d, groups, lin)
        self.down_blocks = nn.ModuleList()
        prev, skips = c0, [c0]
        for b, out in enumerate(ch):
            blk = nn.Module()
            blk.resnets = nn.ModuleList([res(prev if l == 0 else out, out) for l in range(cfg["layersPerBlock"])])
            if depth[b] > 0:
                blk.attentions = nn.ModuleList([tr(out, b, depth[b]) for _ in range(cfg["layersPerBlock"])])
            skips += [out] * cfg["layersPerBlock"]
            if b < len(ch) - 1:
                blk.downsamplers = nn.ModuleList([Sampler(out, up=False)])
                skips.append(out)
            self.down_blocks.append(blk)
            prev = out
        self.mid_block = nn.Module()
        self.mid_block.resnets = nn.ModuleList([res(prev, prev), res(prev, prev)])
        self.mid_block.attentions = nn.ModuleList([tr(prev, len(ch) - 1, cfg["midTransformerDepth"])])
        self.up_blocks = nn.ModuleList()
        for b in range(len(ch)):
            rb = len(ch) - 1 - b
            out = ch[rb]
            blk = nn.Module()
            resnets = []
            for l in range(cfg["layersPerBlock"] + 1):
                resnets.append(res(prev + skips.pop(), out))
                prev = out
            blk.resnets = nn.ModuleList(resnets)
            if depth[rb] > 0:
                blk.attentions = nn.ModuleList([tr(out, rb, depth[rb]) for _ in range(cfg["layersPerBlock"] + 1)])
            if b < len(ch) - 1:
                blk.upsamplers = nn.ModuleList([Sampler(out, up=True)])
            self.up_blocks.append(blk)
        self.conv_norm_out = nn.GroupNorm(groups, c0, eps=1e-5)
        self.conv_out = nn.Conv2d(c0, cfg["outChannels"], 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds=None, time_ids=None):
        dtype = sample.dtype
        temb = timestep_embedding(timestep.reshape(-1), self.cfg["blockChannels"][0]).to(dtype)
        temb = self.time_embedding.linear_2(F.silu(self.time_embedding.linear_1(temb)))
        add = self.cfg.get("addition")
        if add:
            ids = timestep_embedding(time_ids.reshape(-1), add["timeEmbedDim"]).reshape(time_ids.shape[0], -1).to(dtype)
            a = self.add_embedding.linear_1(torch.cat([text_embeds, ids], dim=1))
            temb = temb + self.add_embedding.linear_2(F.silu(a))
        temb = F.silu(temb)
        ctx = encoder_hidden_states
        h = self.conv_in(sample)
        skips = [h]
        for blk in self.down_blocks:
            for l, r in enumerate(blk.resnets):
                h = r(h, temb)
                if hasattr(blk, "attentions"):
                    h = blk.attentions[l](h, ctx)
                skips.append(h)
            if hasattr(blk, "downsamplers"):
                h = blk.downsamplers[0](h)
                skips.append(h)
        h = self.mid_block.resnets[0](h, temb)
        h = self.mid_block.attentions[0](h, ctx)
        h = self.mid_block.resnets[1](h, temb)
        for blk in self.up_blocks:
            for l, r in enumerate(blk.resnets):
                h = r(torch.cat([h, skips.pop()], dim=1), temb)
                if hasattr(blk, "attentions"):
                    h = blk.attentions[l](h, ctx)
            if hasattr(blk, "upsamplers"):
                h = blk.upsamplers[0](h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class CLIPTextModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d = cfg["dim"]
        self.text_model = nn.Module()
        tm = self.text_model
        tm.embeddings = nn.Module()
        tm.embeddings.token_embedding = nn.Embedding(cfg["vocabSize"], d)
        tm.embeddings.position_embedding = nn.Embedding(cfg["positions"], d)
        tm.encoder = nn.Module()
        layers = []
        for _ in range(cfg["layers"]):
            layer = nn.Module()
            layer.self_attn = nn.Module()
            for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
                setattr(layer.self_attn, p, nn.Linear(d, d))
            layer.layer_norm1 = nn.LayerNorm(d)
            layer.mlp = nn.Module()
            layer.mlp.fc1 = nn.Linear(d, cfg["mlpDim"])
            layer.mlp.fc2 = nn.Linear(cfg["mlpDim"], d)
            layer.layer_norm2 = nn.LayerNorm(d)
            layers.append(layer)
        tm.encoder.layers = nn.ModuleList(layers)
        tm.final_layer_norm = nn.LayerNorm(d)
        if cfg.get("projectionDim"):
            self.text_projection = nn.Linear(d, cfg["projectionDim"], bias=False)

    def forward(self, ids):
        tm, cfg = self.text_model, self.cfg
        n = ids.shape[1]
        h = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding.weight[:n]
        mask = torch.full((n, n), -1e4, dtype=h.dtype, device=h.device).triu(1)
        hidden = [h]
        for layer in tm.encoder.layers:
            a = layer.layer_norm1(h)
            sa = layer.self_attn
            h = h + sa.out_proj(attention(sa.q_proj(a), sa.k_proj(a), sa.v_proj(a), cfg["heads"], mask))
            m = layer.mlp.fc1(layer.layer_norm2(h))
            m = F.gelu(m) if cfg["act"] == "gelu" else m * torch.sigmoid(1.702 * m)
            h = h + layer.mlp.fc2(m)
            hidden.append(h)
        last = tm.final_layer_norm(h)
        pooled = last[torch.arange(last.shape[0], device=last.device), ids.argmax(dim=-1)]
        out = {"last_hidden_state": last}
        if cfg.get("projectionDim"):
            out["text_embeds"] = self.text_projection(pooled)
        else:
            out["pooler_output"] = pooled
        for i, x in enumerate(hidden):
            out["hidden_states.%d" % i] = x
        return out


class VaeDecoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, groups, z = cfg["blockChannels"], cfg["normGroups"], cfg["latentChannels"]
        top = ch[-1]
        res = lambda i, o: ResnetBlock2D(i, o, None, groups, 1e-6)
        self.post_quant_conv = nn.Conv2d(z, z, 1)
        d = self.decoder = nn.Module()
        d.conv_in = nn.Conv2d(z, top, 3, padding=1)
        d.mid_block = nn.Module()
        d.mid_block.resnets = nn.ModuleList([res(top, top), res(top, top)])
        attn = nn.Module()
        attn.group_norm = nn.GroupNorm(groups, top, eps=1e-6)
        attn.to_q, attn.to_k, attn.to_v = nn.Linear(top, top), nn.Linear(top, top), nn.Linear(top, top)
        attn.to_out = nn.ModuleList([nn.Linear(top, top)])
        d.mid_block.attentions = nn.ModuleList([attn])
        d.up_blocks = nn.ModuleList()
        prev = top
        rev = list(reversed(ch))
        for b, out in enumerate(rev):
            blk = nn.Module()
            blk.resnets = nn.ModuleList([res(prev if l == 0 else out, out) for l in range(cfg["layersPerBlock"] + 1)])
            if b < len(rev) - 1:
                blk.upsamplers = nn.ModuleList([Sampler(out, up=True)])
            d.up_blocks.append(blk)
            prev = out
        d.conv_norm_out = nn.GroupNorm(groups, ch[0], eps=1e-6)
        d.conv_out = nn.Conv2d(ch[0], 3, 3, padding=1)

    def forward(self, z):
        d = self.decoder
        h = d.conv_in(self.post_quant_conv(z))
        h = d.mid_block.resnets[0](h)
        a = d.mid_block.attentions[0]
        b, c, hh, ww = h.shape
        t = a.group_norm(h).permute(0, 2, 3, 1).reshape(b, hh * ww, c)
        o = a.to_out[0](attention(a.to_q(t), a.to_k(t), a.to_v(t), 1))
        h = h + o.reshape(b, hh, ww, c).permute(0, 3, 1, 2)
        h = d.mid_block.resnets[1](h)
        for blk in d.up_blocks:
            for r in blk.resnets:
                h = r(h)
            if hasattr(blk, "upsamplers"):
                h = blk.upsamplers[0](h)
        return d.conv_out(F.silu(d.conv_norm_out(h)))


# --------------------------------------------------------------------------------------------
# Weights

RESIDUAL_OUT = ("conv2", "to_out.0", "ff.net.2", "proj_out", "out_proj", "fc2")


@torch.no_grad()
def init_random(module, seed):
    """The same scheme as tools/bench/net.ts (not the same numbers): uniform, std gain/sqrt(fan_in)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        base = name.rsplit(".", 1)[0]
        is_norm = isinstance(module.get_submodule(base), (nn.GroupNorm, nn.LayerNorm))
        if is_norm:
            p.fill_(1.0 if name.endswith("weight") else 0.0)
            continue
        if name.endswith("bias"):
            std = 0.02
        elif "token_embedding" in name:
            std = 1.0
        elif "position_embedding" in name:
            std = 0.5
        else:
            fan_in = p[0].numel()
            gain = 0.5 if any(base.endswith(s) for s in RESIDUAL_OUT) else 1.0
            std = gain / math.sqrt(fan_in)
        a = std * math.sqrt(3)
        p.copy_(torch.rand(p.shape, generator=g) * 2 * a - a)


@torch.no_grad()
def load_onnx_weights(module, onnx_path):
    """Copies the initializers of a Darkroom benchmark ONNX model into `module`, by name."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(onnx_path, load_external_data=True)
    inits = {t.name: t for t in model.graph.initializer}
    missing = []
    for name, p in module.named_parameters():
        t = inits.get(name)
        if t is None:
            missing.append(name)
            continue
        w = torch.from_numpy(numpy_helper.to_array(t).astype("float32").copy())
        owner = module.get_submodule(name.rsplit(".", 1)[0])
        if isinstance(owner, nn.Linear) and name.endswith("weight"):
            w = w.t()  # stored [in, out] for MatMul
        p.copy_(w.reshape(p.shape))  # GroupNorm scale/bias are stored [C, 1, 1]
    if missing:
        raise SystemExit("%s: no initializer for %s" % (onnx_path, ", ".join(missing[:5])))


# --------------------------------------------------------------------------------------------
# Benchmark


def euler_sigmas(steps):
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    acp = torch.cumprod(1 - betas, 0)
    ts = torch.linspace(0, 999, steps, dtype=torch.float64).flip(0)
    sig = ((1 - acp) / acp) ** 0.5
    s = torch.from_numpy(__import__("numpy").interp(ts.numpy(), range(1000), sig.numpy()))
    return ts.float(), torch.cat([s, torch.zeros(1, dtype=torch.float64)]).float()


class Pipeline:
    def __init__(self, cfg, device, dtype, seed, weights_from=None):
        self.cfg, self.device, self.dtype = cfg, device, dtype
        nets = {"unet": UNet(cfg["unet"]), "text_encoder": CLIPTextModel(cfg["textEncoder"]), "vae_decoder": VaeDecoder(cfg["vaeDecoder"])}
        if cfg.get("textEncoder2"):
            nets["text_encoder_2"] = CLIPTextModel(cfg["textEncoder2"])
        for i, (k, m) in enumerate(sorted(nets.items())):
            if weights_from:
                load_onnx_weights(m, os.path.join(weights_from, k, "model.onnx"))
            else:
                init_random(m, seed + i)
            m.eval().to(device=device, dtype=dtype)
            setattr(self, k, m)
        self.params = {k: sum(p.numel() for p in m.parameters()) for k, m in nets.items()}
        self.sdxl = "text_encoder_2" in nets

    def encode(self, ids):
        if not self.sdxl:
            return self.text_encoder(ids)["last_hidden_state"], None
        a, b = self.text_encoder(ids), self.text_encoder_2(ids)
        pen = lambda o, n: o["hidden_states.%d" % (n - 1)]
        hidden = torch.cat([pen(a, self.cfg["textEncoder"]["layers"]), pen(b, self.cfg["textEncoder2"]["layers"])], dim=-1)
        return hidden, b["text_embeds"]

    def unet_call(self, sample, t, ctx, pooled, size):
        b = sample.shape[0]
        kw = {}
        if self.sdxl:
            kw["text_embeds"] = pooled
            kw["time_ids"] = torch.tensor([size, size, 0, 0, size, size], device=self.device, dtype=self.dtype).repeat(b, 1)
        return self.unet(sample, t.expand(b), ctx, **kw)

    @torch.no_grad()
    def generate(self, images, size, steps, guidance, seed=0):
        """Text encoding (prompt + negative), `steps` Euler steps with CFG (UNet batch 2n), VAE decode."""
        dev, dt = self.device, self.dtype
        ids = torch.randint(0, 600, (2, 77), generator=torch.Generator().manual_seed(seed)).to(torch.int64).to(dev)
        hidden, pooled = self.encode(ids)
        ctx = torch.cat([hidden[:1].expand(images, -1, -1), hidden[1:].expand(images, -1, -1)])
        if pooled is not None:
            pooled = torch.cat([pooled[:1].expand(images, -1), pooled[1:].expand(images, -1)])
        ts, sigmas = euler_sigmas(steps)
        lat = torch.randn((images, 4, size // 8, size // 8), generator=torch.Generator().manual_seed(seed)).to(dev) * float(sigmas[0])
        for i in range(steps):
            s = float(sigmas[i])
            x = (lat / (s * s + 1) ** 0.5).to(dt)
            eps = self.unet_call(torch.cat([x, x]), ts[i].to(dev), ctx, pooled, size).float()
            u, c = eps.chunk(2)
            lat = lat + (u + guidance * (c - u)) * (float(sigmas[i + 1]) - s)
        return self.vae_decoder((lat / self.cfg["vaeDecoder"]["scalingFactor"]).to(dt)).clamp(-1, 1)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, warmup, runs):
    for _ in range(warmup):
        fn()
    sync(device)
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def stats(ms):
    s = sorted(ms)
    return {"medianMs": round(statistics.median(s), 3), "p90Ms": round(s[min(len(s) - 1, math.ceil(0.9 * len(s)) - 1)], 3), "minMs": round(s[0], 3), "runs": len(s)}


def peak_memory(device, reset=False):
    if device.type == "cuda":
        if reset:
            torch.cuda.reset_peak_memory_stats()
            return None
        return {"peakMemoryMB": round(torch.cuda.max_memory_allocated() / 2**20, 1), "memorySource": "torch.cuda.max_memory_allocated"}
    if reset:
        return None
    import resource

    return {"peakMemoryMB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "memorySource": "process max RSS (lifetime)"}


def gpu_name():
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return None


def run_mode(pipe, mode, args, device):
    label = "pytorch %s %s" % (device.type, mode)
    entry = {"runtime": "pytorch", "provider": device.type, "opt": mode, "label": label, "unet": [], "throughput": [], "errors": []}
    unet_eager = pipe.unet
    if mode != "eager":
        if not hasattr(torch, "compile"):
            entry["errors"].append("torch %s has no torch.compile" % torch.__version__)
            return entry
        kw = {"mode": "reduce-overhead"} if mode == "compile-reduce-overhead" else {}
        pipe.unet = torch.compile(unet_eager, **kw)
    try:
        size = args.size
        u = pipe.cfg["unet"]
        lat = size // 8
        for b in args.batches:
            peak_memory(device, reset=True)
            x = torch.randn(b, u["inChannels"], lat, lat, device=device, dtype=pipe.dtype)
            ctx = torch.randn(b, 77, u["contextDim"], device=device, dtype=pipe.dtype)
            pooled = torch.randn(b, u["addition"]["textEmbedsDim"], device=device, dtype=pipe.dtype) if u.get("addition") else None
            t = torch.tensor([500.0], device=device)
            with torch.no_grad():
                ms = timed(lambda: pipe.unet_call(x, t, ctx, pooled, size), device, args.warmup, args.runs)
            entry["unet"].append({"batch": b, **stats(ms), **peak_memory(device)})
            log("%s  unet batch %d: %.2f ms" % (label, b, statistics.median(ms)))
        if args.no_e2e:
            return entry
        peak_memory(device, reset=True)
        ms = timed(lambda: pipe.generate(1, size, args.steps, args.guidance), device, 1, args.e2e_runs)
        entry["endToEnd"] = {"images": 1, **stats(ms), **peak_memory(device)}
        log("%s  end to end: %.1f ms" % (label, statistics.median(ms)))
        for n in args.images:
            peak_memory(device, reset=True)
            ms = timed(lambda: pipe.generate(n, size, args.steps, args.guidance), device, 1, args.e2e_runs)
            med = statistics.median(ms)
            entry["throughput"].append({"images": n, **stats(ms), "imagesPerSecond": round(n * 1000 / med, 3), **peak_memory(device)})
            log("%s  %d images: %.2f images/s" % (label, n, n * 1000 / med))
    except Exception as err:  # a failed mode is reported, the others still run
        entry["errors"].append("%s: %s" % (type(err).__name__, str(err).splitlines()[0] if str(err) else ""))
    finally:
        pipe.unet = unet_eager
    return entry


def log(msg):
    print("torch_reference: " + msg, file=sys.stderr, flush=True)


def verify(pipe, path):
    """Runs each network on the inputs in `path` (JSON written by the Darkroom test) and returns the outputs."""
    with open(path) as f:
        spec = json.load(f)
    out = {}
    dev, dt = pipe.device, pipe.dtype
    tensor = lambda v: torch.tensor(v["data"], dtype=torch.float32).reshape(v["dims"])
    with torch.no_grad():
        u = spec["unet"]
        kw = {}
        if "text_embeds" in u:
            kw = {"text_embeds": tensor(u["text_embeds"]).to(dev, dt), "time_ids": tensor(u["time_ids"]).to(dev, dt)}
        y = pipe.unet(tensor(u["sample"]).to(dev, dt), tensor(u["timestep"]).to(dev), tensor(u["encoder_hidden_states"]).to(dev, dt), **kw)
        out["unet"] = y.float().flatten().tolist()
        ids = torch.tensor(spec["text_encoder"]["input_ids"]["data"], dtype=torch.int64).reshape(spec["text_encoder"]["input_ids"]["dims"]).to(dev)
        out["text_encoder"] = pipe.text_encoder(ids)["last_hidden_state"].float().flatten().tolist()
        out["vae_decoder"] = pipe.vae_decoder(tensor(spec["vae_decoder"]["latent_sample"]).to(dev, dt)).float().flatten().tolist()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="JSON from `darkroom bench --print-config --shape <shape>`")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="fp16", choices=["fp16", "fp32"])
    ap.add_argument("--modes", default="eager", help="comma list of eager, compile, compile-reduce-overhead")
    ap.add_argument("--batches", default="1,2,4,8", help="UNet batch sizes to time")
    ap.add_argument("--images", default="1,4", help="images per call for the throughput sweep")
    ap.add_argument("--size", type=int, default=0, help="image side in pixels (default: the shape's)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=7.5)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--e2e-runs", type=int, default=3)
    ap.add_argument("--no-e2e", action="store_true", help="UNet forward timings only")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's choice)")
    ap.add_argument("--seed", type=int, default=20251124)
    ap.add_argument("--weights-from", help="load the weights of this Darkroom benchmark model folder")
    ap.add_argument("--verify", help="run the networks on the inputs in this JSON and write their outputs to --json")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    with open(args.config) as f:
        cfg = json.load(f)
    shape = cfg.get("shape", cfg)
    device = torch.device(args.device)
    dtype = torch.float16 if args.dtype == "fp16" else torch.float32
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    args.batches = [int(x) for x in str(args.batches).split(",") if x]
    args.images = [int(x) for x in str(args.images).split(",") if x]
    args.size = args.size or shape["size"]
    t0 = time.perf_counter()
    pipe = Pipeline(shape, device, dtype, args.seed, args.weights_from)
    load_ms = (time.perf_counter() - t0) * 1000

    if args.verify:
        result = verify(pipe, args.verify)
        text = json.dumps(result)
        if args.json:
            with open(args.json, "w") as f:
                f.write(text)
        else:
            print(text)
        return

    report = {
        "tool": "darkroom-bench-torch-reference",
        "version": 1,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "machine": {
            "hostname": platform.node(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "gpu": gpu_name(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "sdpa": HAS_SDPA,
            "threads": torch.get_num_threads(),
            "loadAverage": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        },
        "shape": shape["name"],
        "dtype": args.dtype,
        "size": args.size,
        "steps": args.steps,
        "guidance": args.guidance,
        "scheduler": "euler",
        "params": pipe.params,
        "runs": [],
    }
    for mode in [m for m in args.modes.split(",") if m]:
        entry = run_mode(pipe, mode, args, device)
        entry["loadMs"] = round(load_ms, 1)
        report["runs"].append(entry)
    text = json.dumps(report, indent=2)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

"""Reference values of torch.randn on torch's CPU generator, for test/engine/torch-noise.test.ts.

Run with a Python that has torch (Debian: `apt-get install python3-torch`, then `/usr/bin/python3`):

    /usr/bin/python3 tools/torch-noise/make.py > test/engine/fixtures/torch-randn.json

Each case seeds one generator and calls torch.randn several times in a row (the calls share the
generator, and the scalar path's cached second normal), recording for each call the first and last 64
values as float32 bit patterns and the SHA-256 of all of its float32 bytes (little-endian).
"""
import hashlib
import json
import platform
import re

import torch

# (seed, [sizes of successive randn calls]). Sizes < 16 take the scalar path, >= 16 the vectorised one;
# sizes that are not a multiple of 16 redraw their last 16 values; 0 draws nothing.
CASES = [
    (0, [16, 0, 16]),
    (42, [4 * 64 * 64, 4 * 64 * 64]),  # SD 1.x 512x512 latents, then one step's noise from the same generator
    (2**32 - 1, [4 * 8 * 8]),
    (1, [4 * 128 * 128]),  # SDXL 1024x1024 latents
    (1234, [1, 3, 15, 2]),
    (7, [17, 31, 33, 16, 1000003]),
    (99, [5, 16, 1, 100, 7]),
    (2**31, [15, 17]),
]
EDGE = 64


def bits(t):
    return [format(v & 0xFFFFFFFF, "08x") for v in t.view(torch.int32).tolist()]


def cpu_capability():
    found = re.search(r"CPU capability usage: (\S+)", torch.__config__.show())
    return found.group(1) if found else "unknown"


def main():
    cases = []
    for seed, sizes in CASES:
        g = torch.Generator("cpu").manual_seed(seed)
        calls = []
        for n in sizes:
            x = torch.randn(n, generator=g, dtype=torch.float32)
            calls.append({
                "size": n,
                "first": bits(x[:EDGE]),
                "last": bits(x[-EDGE:]) if n > EDGE else [],
                "sha256": hashlib.sha256(x.numpy().astype("<f4").tobytes()).hexdigest(),
            })
        cases.append({"seed": seed, "calls": calls})
    print(json.dumps({
        "producedBy": f"tools/torch-noise/make.py with torch {torch.__version__} "
                      f"(CPU capability {cpu_capability()}) "
                      f"on {platform.machine()}",
        "cases": cases,
    }, indent=1).replace("\n      ", "").replace("\n     ]", "]"))


if __name__ == "__main__":
    main()

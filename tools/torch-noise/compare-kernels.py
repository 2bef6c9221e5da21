"""How far torch.randn's plain C++ kernel is from its AVX2 kernel (the one Darkroom's torch-cpu follows).

    /usr/bin/python3 tools/torch-noise/compare-kernels.py

Runs itself a second time with ATEN_CPU_CAPABILITY=default (torch's kernels for CPUs without AVX2) and
prints how many of 1,000,000 values of torch.randn(generator=manual_seed(0)) differ and by how much.
"""
import os
import subprocess
import sys

import numpy as np
import torch

N = 1_000_000


def values():
    g = torch.Generator("cpu").manual_seed(0)
    return torch.randn(N, generator=g, dtype=torch.float32).numpy()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        values().tofile(sys.argv[1])
        sys.exit(0)
    here = values()
    path = "/tmp/darkroom-randn-default-kernel.bin"
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    subprocess.run([sys.executable, __file__, path], env=env, check=True)
    plain = np.fromfile(path, dtype=np.float32)
    os.remove(path)
    differ = plain.view(np.int32) != here.view(np.int32)
    print(f"torch {torch.__version__}: {int(differ.sum())} of {N} values differ between the default and this CPU's kernel; "
          f"largest difference {float(np.abs(plain - here).max()):.2e}")

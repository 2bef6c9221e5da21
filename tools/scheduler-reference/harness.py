"""
Loads Hugging Face diffusers' scheduler files, unmodified, from a diffusers git checkout and runs them on real
torch (Debian's python3-torch): diffusers itself cannot be pip-installed here, so only its package machinery
(ConfigMixin, register_to_config, randn_tensor, SchedulerMixin) is replaced by the minimal stand-ins below.
randn_tensor is torch.randn with the given generator, which is what diffusers' own does on CPU.
"""
import importlib
import os
import subprocess
import sys
import tempfile

STUBS = {
    'diffusers/__init__.py': '',
    'diffusers/configuration_utils.py': '''\
import functools, inspect

class FrozenDict(dict):
    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k)

class ConfigMixin:
    config_name = 'scheduler_config.json'

    def register_to_config(self, **kwargs):
        d = dict(getattr(self, '_internal_dict', {}))
        d.update(kwargs)
        self._internal_dict = FrozenDict(d)

    @property
    def config(self):
        return self._internal_dict

def register_to_config(init):
    @functools.wraps(init)
    def inner(self, *args, **kwargs):
        bound = inspect.signature(init).bind(self, *args, **kwargs)
        bound.apply_defaults()
        self.register_to_config(**{k: v for k, v in bound.arguments.items() if k != 'self'})
        init(self, *args, **kwargs)
    return inner
''',
    'diffusers/utils/__init__.py': '''\
import logging as _logging

class BaseOutput:
    pass

def deprecate(*a, **k):
    pass

def is_scipy_available():
    try:
        import scipy  # noqa: F401
        return True
    except ImportError:
        return False

class logging:
    @staticmethod
    def get_logger(name):
        return _logging.getLogger(name)
''',
    'diffusers/utils/torch_utils.py': '''\
import torch

def randn_tensor(shape, generator=None, device=None, dtype=None, layout=None):
    return torch.randn(shape, generator=generator, dtype=dtype or torch.float32)
''',
    'diffusers/schedulers/__init__.py': '',
    'diffusers/schedulers/scheduling_utils.py': '''\
from dataclasses import dataclass
from enum import Enum
import torch
from ..utils import BaseOutput

class KarrasDiffusionSchedulers(Enum):
    DDIMScheduler = 1

@dataclass
class SchedulerOutput(BaseOutput):
    prev_sample: torch.Tensor

class SchedulerMixin:
    pass
''',
}

FILES = ['scheduling_ddim', 'scheduling_ddpm', 'scheduling_pndm', 'scheduling_euler_discrete',
         'scheduling_euler_ancestral_discrete', 'scheduling_lms_discrete', 'scheduling_heun_discrete',
         'scheduling_dpmsolver_multistep', 'scheduling_unipc_multistep', 'scheduling_lcm']


def load(repo, rev='HEAD'):
    """(commit, {class name: class}) of diffusers' scheduler files at `rev` of the checkout `repo`."""
    commit = subprocess.check_output(['git', '--git-dir', repo, 'rev-parse', rev], text=True).strip()
    tmp = tempfile.mkdtemp()
    for path, text in STUBS.items():
        os.makedirs(os.path.dirname(os.path.join(tmp, path)), exist_ok=True)
        with open(os.path.join(tmp, path), 'w') as f:
            f.write(text)
    for name in FILES:
        src = subprocess.check_output(
            ['git', '--git-dir', repo, 'show', f'{commit}:src/diffusers/schedulers/{name}.py'], text=True)
        with open(os.path.join(tmp, 'diffusers', 'schedulers', name + '.py'), 'w') as f:
            f.write(src)
    sys.path.insert(0, tmp)
    classes = {}
    for name in FILES:
        mod = importlib.import_module('diffusers.schedulers.' + name)
        for k, v in vars(mod).items():
            if k.endswith('Scheduler') and isinstance(v, type):
                classes[k] = v
    return commit, classes

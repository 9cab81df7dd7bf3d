"""mmhandmim: HandMIM self-supervised pre-training and MANO mesh estimation (OpenMMLab plugin).

Install torch first (requirements/torch.txt; the CUDA build of the same version on GPU
machines), then this package; mmpose is installed with --no-deps (its declared chumpy
dependency does not import on Python 3.11). `make install` does all of it.
"""
import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_requirements(name):
    with open(os.path.join(HERE, 'requirements', name)) as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.startswith('#')]


def read_version():
    scope = {}
    with open(os.path.join(HERE, 'mmhandmim', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmhandmim',
    version=read_version(),
    description='HandMIM: pose-aware self-supervised learning for 3D hand mesh estimation',
    long_description=open(os.path.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmhandmim', 'mmhandmim.*']),
    python_requires='>=3.9',
    install_requires=read_requirements('torch.txt') + read_requirements('runtime.txt'),
    extras_require=dict(tests=read_requirements('tests.txt')),
    license='Apache-2.0',
    zip_safe=False,
)

"""mmhandmim: HandMIM self-supervised pre-training and MANO mesh estimation (OpenMMLab plugin).

Install torch first (requirements/torch.txt; the CUDA build of the same version on GPU
machines), then this package; mmpose is installed with --no-deps (its declared chumpy
dependency does not import on Python 3.11). `make install` does all of it.
"""
import os
import os.path as osp
import platform
import shutil
import sys
import warnings

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
#: what OpenMMLab's mim and mmengine's ``mmhandmim::`` config paths read from the package
MIM_FILES = ['configs', 'tools', 'demo', 'model-index.yml']


def read_requirements(name):
    with open(os.path.join(HERE, 'requirements', name)) as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.startswith('#')]


def read_version():
    scope = {}
    with open(os.path.join(HERE, 'mmhandmim', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def add_mim_extension():
    """Put ``MIM_FILES`` into ``mmhandmim/.mim`` as mmpose/mmpretrain do: symlinks for an
    editable install (``pip install -e .`` runs ``editable_wheel``; ``develop`` is the legacy
    form), copies for a wheel or sdist. Other setup.py commands leave it alone."""
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'copy' if platform.system() == 'Windows' else 'symlink'
    elif 'sdist' in sys.argv or 'bdist_wheel' in sys.argv:
        mode = 'copy'
    else:
        return
    mim_path = osp.join(HERE, 'mmhandmim', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src, tar = osp.join(HERE, name), osp.join(mim_path, name)
        if not osp.exists(src):
            continue
        if osp.isfile(tar) or osp.islink(tar):
            os.remove(tar)
        elif osp.isdir(tar):
            shutil.rmtree(tar)
        if mode == 'symlink':
            # relative, so the link survives moving the checkout
            os.symlink(osp.relpath(src, mim_path), tar)
        elif osp.isfile(src):
            shutil.copyfile(src, tar)
        elif osp.isdir(src):
            shutil.copytree(src, tar, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            warnings.warn(f'Cannot copy {src} into {mim_path}')


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmhandmim',
        version=read_version(),
        description='HandMIM: pose-aware self-supervised learning for 3D hand mesh estimation',
        long_description=open(os.path.join(HERE, 'README.md')).read(),
        long_description_content_type='text/markdown',
        packages=find_packages(include=['mmhandmim', 'mmhandmim.*']),
        # mmhandmim/.mim (see MANIFEST.in) goes into wheels and sdists
        include_package_data=True,
        python_requires='>=3.9',
        install_requires=read_requirements('torch.txt') + read_requirements('runtime.txt'),
        extras_require=dict(tests=read_requirements('tests.txt')),
        license='Apache-2.0',
        zip_safe=False,
    )

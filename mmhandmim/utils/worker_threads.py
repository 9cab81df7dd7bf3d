"""One thread per native thread pool inside each data-loader worker.

PyTorch's DataLoader sets torch's own threads to 1 in a worker, and mmengine's ``mp_cfg`` sets
OpenCV's, but numpy's and scipy's OpenBLAS keep the pool they sized at import (one thread per
core). Their idle threads spin after every small matrix product of the pipeline (view
affines, camera transforms): measured with one worker on 2 cores, the pre-training pipeline
cost 18 ms of CPU per image instead of 6.7 ms, the other core spinning. With 8 workers per GPU
on a big node each worker would own a pool of all the node's cores.

``threadpoolctl`` (scikit-learn's tool for this) finds the loaded BLAS/OpenMP libraries and
calls their own ``set_num_threads``; environment variables cannot do it after import.
"""
from torch.utils.data import get_worker_info

_limited = False


def limit_threads_in_worker() -> bool:
    """In a DataLoader worker, limit every native thread pool to 1 thread, once per process.

    Cheap to call for every sample (a flag and a global lookup); outside a worker it does
    nothing, so the main process keeps its BLAS threads. Returns whether the limit is set.
    """
    global _limited
    if not _limited and get_worker_info() is not None:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=1)  # called, not entered: stays for the worker's lifetime
        _limited = True
    return _limited

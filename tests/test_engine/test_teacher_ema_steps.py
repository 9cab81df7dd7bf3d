"""TeacherEMAHook moves the teacher only on iterations whose optimizer really stepped."""
import pytest

from mmhandmim.engine.hooks import TeacherEMAHook

from .toy import ToyModel, toy_runner

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')


class ToyStudentTeacher(ToyModel):
    """Records the iterations (1-based) at which the EMA hook asked for a teacher update."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.ema_calls = []

    def update_teacher(self, momentum):
        self.ema_calls.append(self.calls)


def _ema_iterations(tmp_path, finite_hook, **runner_kw):
    model = ToyStudentTeacher(**runner_kw.pop('model_kw', {}))
    runner = toy_runner(tmp_path, model, finite_hook, recorder=TeacherEMAHook(), **runner_kw)
    runner.train()
    return model.ema_calls


def test_every_step_moves_the_teacher(tmp_path):
    assert _ema_iterations(tmp_path, dict(type='FiniteLossHook')) == [1, 2, 3, 4, 5, 6]


def test_no_teacher_step_on_a_skipped_non_finite_loss(tmp_path):
    calls = _ema_iterations(tmp_path, dict(type='FiniteLossHook', on_nonfinite='skip'),
                            model_kw=dict(nan_from=3))
    assert calls == [1, 2, 4, 5, 6]


def test_no_teacher_step_on_gradient_accumulation_iterations(tmp_path):
    calls = _ema_iterations(tmp_path, dict(type='FiniteLossHook'),
                            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1),
                                               accumulative_counts=2))
    assert calls == [2, 4, 6]

"""Per-sample, per-point re-implementation of the official FreiHAND/HO3D evaluation.

Written independently of mmhandmim.evaluation, in the official scripts' loop style
(lmb-freiburg/freihand eval.py + utils/eval_util.py, shreyashampali/ho3d eval.py), with
brute-force nearest neighbours in place of open3d. Only for small test inputs.
"""
import numpy as np
from scipy.linalg import orthogonal_procrustes


def align_w_scale(mtx1, mtx2):
    t1, t2 = mtx1.mean(0), mtx2.mean(0)
    mtx1_t, mtx2_t = mtx1 - t1, mtx2 - t2
    s1 = np.linalg.norm(mtx1_t) + 1e-8
    mtx1_t /= s1
    s2 = np.linalg.norm(mtx2_t) + 1e-8
    mtx2_t /= s2
    R, s = orthogonal_procrustes(mtx1_t, mtx2_t)
    mtx2_t = np.dot(mtx2_t, R.T) * s
    return mtx2_t * s1 + t1


def align_sc_tr(mtx1, mtx2):
    pred = mtx2.copy()
    s = np.sqrt(np.sum(np.square(pred[4] - pred[0])))
    if s > 0:
        pred = pred / s
    pred = pred * np.sqrt(np.sum(np.square(mtx1[4] - mtx1[0])))
    return pred - pred[0:1, :] + mtx1[0:1, :]


class EvalUtil:
    def __init__(self, num_kp):
        self.data = [[] for _ in range(num_kp)]

    def feed(self, gt, pred):
        dist = np.sqrt(np.sum(np.square(gt - pred), axis=1))
        for i in range(gt.shape[0]):
            self.data[i].append(dist[i])

    def get_measures(self, lo=0.0, hi=0.05, steps=100):
        thresholds = np.linspace(lo, hi, steps)
        norm = np.trapz(np.ones_like(thresholds), thresholds)
        epe, aucs, curves = [], [], []
        for kp in range(len(self.data)):
            data = np.array(self.data[kp])
            epe.append(np.mean(data))
            curve = np.array([np.mean((data <= t).astype('float')) for t in thresholds])
            curves.append(curve)
            aucs.append(np.trapz(curve, thresholds) / norm)
        return np.mean(np.array(epe)), np.mean(np.array(aucs)), np.mean(np.array(curves), 0)


def brute_nn(src, dst):
    """For every point of src, the distance to its nearest point of dst."""
    return np.array([min(np.sqrt(np.sum(np.square(p - q))) for q in dst) for p in src])


def calculate_fscore(gt, pr, th):
    d1, d2 = brute_nn(gt, pr), brute_nn(pr, gt)
    recall = float(sum(d < th for d in d2)) / float(len(d2))
    precision = float(sum(d < th for d in d1)) / float(len(d1))
    if recall + precision > 0:
        return 2 * recall * precision / (recall + precision)
    return 0


def official_eval(pred_xyz, pred_verts, gt_xyz, gt_verts, ho3d=False):
    """The official metrics in the units of evaluate_hand_mesh (mm, fractions)."""
    j, pa_j, st_j = EvalUtil(gt_xyz.shape[1]), EvalUtil(gt_xyz.shape[1]), EvalUtil(21)
    v, pa_v = EvalUtil(gt_verts.shape[1]), EvalUtil(gt_verts.shape[1])
    fs, pa_fs = [], []
    for i in range(len(gt_xyz)):
        j.feed(gt_xyz[i], pred_xyz[i])
        pa_j.feed(gt_xyz[i], align_w_scale(gt_xyz[i], pred_xyz[i].copy()))
        if ho3d:
            st_j.feed(gt_xyz[i], align_sc_tr(gt_xyz[i], pred_xyz[i]))
        v.feed(gt_verts[i], pred_verts[i])
        aligned = align_w_scale(gt_verts[i], pred_verts[i].copy())
        pa_v.feed(gt_verts[i], aligned)
        fs.append([calculate_fscore(gt_verts[i], pred_verts[i], t) for t in (0.005, 0.015)])
        pa_fs.append([calculate_fscore(gt_verts[i], aligned, t) for t in (0.005, 0.015)])
    out = {}
    for name, util in (('', j), ('pa_', pa_j)):
        err, auc, _ = util.get_measures()
        out[name + 'mpjpe'], out[name + 'auc_j'] = err * 1000, auc
    for name, util in (('', v), ('pa_', pa_v)):
        err, auc, _ = util.get_measures()
        out[name + 'mpvpe'], out[name + 'auc_v'] = err * 1000, auc
    if ho3d:
        err, auc, _ = st_j.get_measures()
        out['st_mpjpe'], out['st_auc_j'] = err * 1000, auc
    fs, pa_fs = np.array(fs), np.array(pa_fs)
    out.update(f5=fs[:, 0].mean(), f15=fs[:, 1].mean(), pa_f5=pa_fs[:, 0].mean(),
               pa_f15=pa_fs[:, 1].mean())
    return out

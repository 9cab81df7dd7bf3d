#!/usr/bin/env bash
# The whole paper pipeline on embedded default data, small enough for 2 CPU cores:
# generate stand-in datasets -> HandMIM pre-training -> teacher backbone extraction ->
# mesh fine-tuning -> evaluation (metric table) -> submission file -> rendered predictions.
# Each stage is a user-facing tool with a config; finished stages are reused on re-runs
# (delete work_dirs/demo, or `make clean-demo`, to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
W=work_dirs/demo
PRE=configs/demo/handmim_vit-tiny_demo.py
FT=configs/demo/mesh_vit-tiny_freihand_demo.py
mkdir -p "$W"
stage() { echo; echo "=== [demo] $1"; }
# a stage whose output exists is not run again; say so, so a re-run's silence is not a mystery
reuse() { echo "    reusing $1 (finished earlier; delete it to redo this stage)"; }
t0=$(date +%s)

stage "1/6 generate stand-in data (stand-in hand model, not MANO)"
if [ ! -f "$W/data/unlabeled/list.txt" ]; then
    $PY tools/dataset_converters/generate_standin_data.py unlabeled --out-dir "$W/data/unlabeled" \
        --num-train 512 --img-size 96 --seed 0 --overwrite
else reuse "$W/data/unlabeled"; fi
if [ ! -f "$W/data/freihand/evaluation_xyz.json" ]; then
    $PY tools/dataset_converters/generate_standin_data.py freihand --out-dir "$W/data/freihand" \
        --num-train 512 --num-eval 64 --versions 2 --img-size 128 --seed 0 --overwrite
else reuse "$W/data/freihand"; fi

stage "2/6 HandMIM pre-training ($PRE)"
PRE_CKPT="$W/pretrain/epoch_6.pth"
if [ ! -f "$PRE_CKPT" ]; then
    $PY tools/train.py "$PRE" --work-dir "$W/pretrain" --resume
else reuse "$PRE_CKPT"; fi

stage "3/6 extract the teacher backbone"
if [ ! -f "$W/backbone.pth" ]; then
    $PY tools/model_converters/extract_handmim_backbone.py "$PRE_CKPT" "$W/backbone.pth"
else reuse "$W/backbone.pth"; fi

stage "4/6 mesh fine-tuning from the HandMIM backbone ($FT)"
FT_CKPT="$W/finetune/epoch_14.pth"
if [ ! -f "$FT_CKPT" ]; then
    $PY tools/train.py "$FT" --work-dir "$W/finetune" --resume
else reuse "$FT_CKPT"; fi

stage "5/6 evaluation (model vs. the trivial baselines) and submission file"
MEAN="$W/mean_mano_params.npz"
if [ ! -f "$MEAN" ]; then  # the training set's mean pose: a baseline the model must beat
    $PY tools/misc/compute_mean_mano_params.py "$FT" --out "$MEAN"
else reuse "$MEAN"; fi
if [ ! -f "$W/test/preds.pkl" ]; then
    mkdir -p "$W/test"
    $PY tools/test.py "$FT" "$FT_CKPT" --work-dir "$W/test" --out "$W/test/preds.pkl" \
        --cfg-options test_evaluator.baselines.mean_params="$MEAN" 2>&1 | tee "$W/test/metrics.log"
else reuse "$W/test/preds.pkl"; fi
if [ ! -f "$W/submission/pred.json" ]; then
    $PY tools/test.py "$FT" "$FT_CKPT" --work-dir "$W/test" \
        --cfg-options test_evaluator.format_only=True test_evaluator.outfile_dir="$W/submission"
else reuse "$W/submission/pred.json"; fi

stage "6/6 render predicted meshes"
if [ ! -f "$W/predictions.png" ]; then
    $PY tools/analysis/render_predictions.py "$FT" "$W/test/preds.pkl" "$W/predictions.png" --num 8
else reuse "$W/predictions.png"; fi

echo
echo "=== [demo] done in $(( $(date +%s) - t0 )) s. Artefacts:"
echo "  generated data        $W/data/{unlabeled,freihand}"
echo "  pre-training          $W/pretrain  (checkpoint $PRE_CKPT)"
echo "  teacher backbone      $W/backbone.pth"
echo "  fine-tuning           $W/finetune  (checkpoint $FT_CKPT)"
echo "  metrics               $W/test/metrics.log"
echo "  submission            $W/submission/pred.json, pred.zip"
echo "  rendered predictions  $W/predictions.png"
# the tables as tools/test.py logged them: the metrics, then the model vs. the baselines
grep -A7 "mesh metrics on" "$W/test/metrics.log" | tail -8 | sed 's/^.* - INFO - //' || true
echo
grep -A5 "vs. trivial baselines" "$W/test/metrics.log" | tail -5 | sed 's/^.* - INFO - //' || true

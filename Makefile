# One entry point for users and CI. Both targets bootstrap the environment on first use
# (virtualenv + pinned stack + this package, editable) and reuse it afterwards.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmhandmim-env
REQS := requirements/torch.txt requirements/lock.txt requirements/nodeps.txt \
	requirements/detect.txt setup.py

.PHONY: install install-detect test demo clean-demo

install: $(STAMP)

# the optional MediaPipe hand detector into an existing environment (no-deps: see the file)
install-detect:
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r requirements/detect.txt

# Re-runs only when a requirements file or setup.py changes.
$(STAMP): $(REQS)
	bash tools/misc/setup_env.sh $(VENV)
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	bash demo/run_demo.sh

clean-demo:
	rm -rf work_dirs/demo

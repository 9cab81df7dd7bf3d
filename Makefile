# One entry point for users and CI. Both targets bootstrap the environment on first use
# (virtualenv + pinned stack + this package, editable) and reuse it afterwards.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmhandmim-env
REQS := requirements/torch.txt requirements/lock.txt requirements/nodeps.txt setup.py

.PHONY: install test demo clean-demo

install: $(STAMP)

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

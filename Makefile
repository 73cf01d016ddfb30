# fieldrec: `make demo` runs the main job on a built-in sample, `make test` runs the tests.
# Each target creates the local virtual environment (.venv) with pinned versions when missing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   := demo
BENCH_ARGS ?=   # e.g. make bench BENCH_ARGS="--gb 0.2 --segment-s 5"

.PHONY: demo test bench bench-full clean venv messages

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "fieldrec needs Python 3.11, found " + sys.version' \
	  || { echo "set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[test]'
	# fieldrec's own modules compiled once (pip compiles the packages it installs, not an editable
	# checkout): a short command then starts without compiling ~100 modules, even where the
	# environment sets PYTHONDONTWRITEBYTECODE; Python still recompiles any module edited since.
	$(BIN)/python -m compileall -q -j 0 pipeline catalog
	touch $(STAMP)

# The demo archive is a Chinese site's (configs/site-zh.toml: Asia/Shanghai, site.language zh-CN):
# every command on it speaks Chinese; add --lang en to any of them for English.
demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/python -m pipeline.sample $(DEMO)/drop --hours-ago 3
	$(BIN)/fieldrec ingest $(DEMO)/drop --archive $(DEMO)/archive --config configs/site-zh.toml
	$(BIN)/fieldrec report --archive $(DEMO)/archive -o $(DEMO)/report.html
	@echo
	@echo "档案库 Archive: $(DEMO)/archive  (原始文件在 objects/，Parquet 目录表在 catalog/)"
	@echo "报告 Report:    $(DEMO)/report.html  (用浏览器打开 open it in a browser)"
	@echo "试试 Try:       $(BIN)/fieldrec gaps --archive $(DEMO)/archive   (加 --lang en 显示英文)"

# Extract every user-facing message (babel.cfg says where) and merge it into the Chinese catalog:
# new messages arrive untranslated, changed ones fuzzy; tests/test_translations.py fails until each
# has its translation (edit pipeline/locale/zh_CN/LC_MESSAGES/fieldrec.po, then run this again).
messages: $(STAMP)
	mkdir -p build
	$(BIN)/pybabel -q extract -F babel.cfg -k NP_:1c,2 --no-wrap --add-location=file --sort-output \
	  --project=fieldrec -o build/fieldrec.pot .
	$(BIN)/pybabel -q update -i build/fieldrec.pot -d pipeline/locale -D fieldrec -l zh_CN --no-wrap \
	  --ignore-obsolete --ignore-pot-creation-date

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pytest -q bench --benchmark-enable --benchmark-only -p no:cacheprovider
	$(BIN)/python bench/e2e.py $(BENCH_ARGS)

bench-full: $(STAMP)
	$(BIN)/python bench/e2e.py --full $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .benchmarks

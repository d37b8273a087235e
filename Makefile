# The two commands: `make start` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: help deps start test typecheck lint unit bench

help:
	@echo "make start   install, then the walkthroughs (dnet daemon + CLI, then the library), each in a throwaway network namespace"
	@echo "make test    install, type-check, lint, run every test"
	@echo "make bench   dnet side by side with netavark, the CNI plugins and the kernel floor (QUICK=1: a short check)"

deps:
	@./scripts/install-deps.sh

# Part 1: `dnet daemon` in the background (state under the world's /run), the CLI walkthrough,
# SIGTERM. Part 2: the library walkthrough. Each in its own throwaway world.
start: deps
	@./scripts/in-world.sh bash examples/walkthrough-cli.sh
	@echo
	@echo "dnet walkthrough, part 2: the library (examples/walkthrough.ts), in another throwaway world"
	@./scripts/in-world.sh tsx examples/walkthrough.ts

typecheck: deps
	tsc --noEmit -p .

lint: deps
	biome check src test bench examples scripts bin

test: deps typecheck lint
	node scripts/run-tests.mjs

# The full comparison writes bench/results/compare-<date>.json and the SVG charts; QUICK=1 runs in
# under two minutes into a temp dir (the test suite's check that it works, not a measurement).
bench: deps
	@./scripts/in-world.sh tsx bench/compare/main.ts $(if $(QUICK),--quick,)

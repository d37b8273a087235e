# The two commands: `make start` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: help deps start test typecheck lint unit bench

help:
	@echo "make start   install, then run the walkthrough in a throwaway network namespace"
	@echo "make test    install, type-check, lint, run every test"
	@echo "make bench   in-process vs child-process cost of the kernel operations (QUICK=1 for a short run)"

deps:
	@./scripts/install-deps.sh

start: deps
	@./scripts/in-world.sh tsx examples/walkthrough.ts

typecheck: deps
	tsc --noEmit -p .

lint: deps
	biome check src test bench examples scripts bin

test: deps typecheck lint
	node scripts/run-tests.mjs

bench: deps
	@./scripts/in-world.sh tsx bench/os-ops.ts $(if $(QUICK),--quick,)

# The two commands: `make start` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: help deps start test typecheck lint unit bench

help:
	@echo "make start   install, then the walkthroughs (dnet daemon + CLI, then the library), each in a throwaway network namespace"
	@echo "make test    install, type-check, lint, run every test"
	@echo "make bench   in-process vs child-process cost of the kernel operations (QUICK=1 for a short run)"

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

bench: deps
	@./scripts/in-world.sh tsx bench/os-ops.ts $(if $(QUICK),--quick,)

# The two commands: `make start` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: help deps build start demo test typecheck lint unit bench bench-startup install clean

help:
	@echo "make start   install, build, the walkthroughs, then dnet daemon in the foreground (in a throwaway world, socket .run/dnet.sock)"
	@echo "make demo    install, build, the walkthroughs only (dnet daemon + CLI, then the library), each in a throwaway network namespace"
	@echo "make test    install, type-check, lint, run every test"
	@echo "make build   compile src/ to dist/ (ESM JavaScript + .d.ts): what the package ships"
	@echo "make install install the package, dnet on PATH, its systemd unit and bash completion (PREFIX=/usr/local, DESTDIR)"
	@echo "make bench-startup   start-up of dnet and the library, the daemon's memory (QUICK=1: a short check)"
	@echo "make bench   dnet side by side with netavark, the CNI plugins and the kernel floor (QUICK=1: a short check)"

deps:
	@./scripts/install-deps.sh

# The package as shipped: ESM JavaScript and .d.ts in dist/ (incremental: quick when nothing changed),
# and the CNI launcher compiled with the system cc (without one, `dnet cni install` installs the
# Node plugin); its source goes along so `dnet cni install` can compile it from the package.
build: deps
	@tsc -p tsconfig.build.json
	@mkdir -p dist/cni/launcher && cp -p src/cni/launcher/dnet-cni.c dist/cni/launcher/
	@if command -v $${CC:-cc} >/dev/null; then $${CC:-cc} -O2 -Wall -Wextra -static -o dist/cni/launcher/dnet-cni src/cni/launcher/dnet-cni.c 2>/dev/null \
	  || $${CC:-cc} -O2 -Wall -Wextra -o dist/cni/launcher/dnet-cni src/cni/launcher/dnet-cni.c; \
	else echo "make build: no C compiler: dnet cni install will install the Node CNI plugin"; fi

# Part 1: `dnet daemon` in the background (state under the world's /run), the CLI walkthrough,
# SIGTERM. Part 2: the library walkthrough. Each in its own throwaway world.
demo: deps build
	@./scripts/in-world.sh bash examples/walkthrough-cli.sh
	@echo
	@echo "dnet walkthrough, part 2: the library (examples/walkthrough.ts), in another throwaway world"
	@./scripts/in-world.sh tsx examples/walkthrough.ts

# The walkthroughs, then `dnet daemon` in the foreground in a third throwaway world, serving
# .run/dnet.sock in the checkout for clients in other terminals; Ctrl-C stops it and the world goes.
start: demo
	@./scripts/in-world.sh bash examples/serve.sh

typecheck: deps
	tsc --noEmit -p .

lint: deps
	biome check src test bench examples scripts bin

test: deps typecheck lint build
	node scripts/run-tests.mjs

# Installs the packed package (npm pack: what `npm install` of the tarball gets) in
# $(DESTDIR)$(PREFIX)/lib/dnet with the runtime dependencies this checkout's lockfile pins
# (scripts/install-package.mjs), `dnet` in $(PREFIX)/bin, the systemd unit in
# $(PREFIX)/lib/systemd/system (its paths under $(PREFIX)) and the bash completion.
# Then: systemctl daemon-reload && systemctl enable --now dnet.
PREFIX ?= /usr/local
install: build
	@rm -rf .run/pack && mkdir -p .run/pack
	npm pack --silent --pack-destination .run/pack >/dev/null
	rm -rf "$(DESTDIR)$(PREFIX)/lib/dnet"
	node scripts/install-package.mjs .run/pack/libnetwork-*.tgz "$(DESTDIR)$(PREFIX)/lib/dnet" --omit=dev --prefer-offline $(NPM_FLAGS)
	mkdir -p "$(DESTDIR)$(PREFIX)/bin"
	ln -sfn ../lib/dnet/node_modules/libnetwork/dist/cli/bin.js "$(DESTDIR)$(PREFIX)/bin/dnet"
	install -D -m 0644 systemd/dnet.service "$(DESTDIR)$(PREFIX)/lib/systemd/system/dnet.service"
	sed -i "s#/usr/local/#$(PREFIX)/#g" "$(DESTDIR)$(PREFIX)/lib/systemd/system/dnet.service"
	mkdir -p "$(DESTDIR)$(PREFIX)/share/bash-completion/completions"
	node dist/cli/bin.js completion bash >"$(DESTDIR)$(PREFIX)/share/bash-completion/completions/dnet"
	@rm -rf .run/pack
	@echo "installed: $(DESTDIR)$(PREFIX)/bin/dnet, $(DESTDIR)$(PREFIX)/lib/systemd/system/dnet.service"

clean:
	rm -rf dist .run

# The full comparison writes bench/results/compare-<date>.json and the SVG charts; QUICK=1 runs in
# under two minutes into a temp dir (the test suite's check that it works, not a measurement).
# Then the embedded resolver against aardvark-dns (bench/dns: bench/results/dns-<date>.json).
bench: deps build
	@./scripts/in-world.sh tsx bench/compare/main.ts $(if $(QUICK),--quick,)
	@./scripts/in-world.sh tsx bench/dns/main.ts $(if $(QUICK),--quick,--out bench/results)

# Start-up of the CLI and the library, and the daemon's memory, against the goals of issue 13.
bench-startup: deps build
	@./scripts/in-world.sh tsx bench/startup.ts $(if $(QUICK),--quick,)

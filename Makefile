# Signet — the two commands a newcomer needs are `make run` and `make test`.
GO       ?= go
BIN      := bin/signet
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)

.PHONY: all build run test e2e fuzz-short lint generate generate-check deps mobile bench clean ukey

all: build

## build: the H5/PC client into mobile/dist, then the signet binary (embedding it)
build: mobile
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/signet

## ukey: the UKey helper (证书应用环境) for this machine's platform, in bin/signet-ukey and in
## bin/downloads/ where the server offers it (cgo: other platforms need their own C toolchain,
## e.g. make ukey GOOS=windows GOARCH=amd64 CC=x86_64-w64-mingw32-gcc)
UKEY_OS   := $(or $(GOOS),$(shell $(GO) env GOOS))
UKEY_ARCH := $(or $(GOARCH),$(shell $(GO) env GOARCH))
UKEY_EXE  := $(if $(filter windows,$(UKEY_OS)),.exe,)
ukey:
	mkdir -p bin/downloads
	CGO_ENABLED=1 $(GO) build -ldflags "$(LDFLAGS)" -o bin/downloads/signet-ukey-$(UKEY_OS)-$(UKEY_ARCH)$(UKEY_EXE) ./cmd/signet-ukey
	cp bin/downloads/signet-ukey-$(UKEY_OS)-$(UKEY_ARCH)$(UKEY_EXE) bin/signet-ukey$(UKEY_EXE)

## run: build everything and start Signet on its embedded defaults (http://localhost:8080)
run: build
	./$(BIN) serve

## test: Go tests (SQLite + throwaway PostgreSQL), the client's unit tests and the browser end to end
test: deps build ukey
	scripts/with-postgres.sh $(GO) test -count=1 ./...
	cd mobile && npm test
	cd mobile && npm run e2e

## e2e: the client in headless Chromium against bin/signet
e2e: build ukey
	cd mobile && npm run e2e

## fuzz-short: every signingcore fuzz target for a few seconds (CI)
fuzz-short:
	scripts/fuzz-short.sh

## lint: go vet and gofmt
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^ent/' | grep -v '^graph/generated.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## generate: ent and gqlgen code
generate:
	$(GO) generate ./...

## generate-check: fail when generated code is out of date
generate-check: generate
	@git diff --exit-code --stat -- ent graph gqlgen.yml || \
	  (echo "generated code is out of date: run make generate and commit"; exit 1)
	@untracked=$$(git ls-files --others --exclude-standard -- ent graph); \
	  if [ -n "$$untracked" ]; then echo "untracked generated files:"; echo "$$untracked"; exit 1; fi

## deps: system packages for the build and the tests (apt-get, as root)
deps:
	scripts/install-deps.sh

## mobile: the Vue H5/PC client built into mobile/dist (npm ci when the lock file changed)
mobile:
	scripts/build-mobile.sh

## bench: the benchmarks quoted in docs/benchmarks.md
bench: deps
	scripts/with-postgres.sh $(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin

# Everyday tasks. Each target is a plain command you can also run by hand.
#   make test ARGS='-run TestLoad ./cmd/...'   extra arguments for go test

GO      ?= go
# staticcheck 2026.2.2 (module v0.8.2), fetched through the module proxy on first use.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: test run build lint

## test: the whole suite, services included (scripts/test.sh)
test:
	scripts/test.sh $(ARGS)

## run: the hub in embedded mode on :8080, data under ./data
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/securecam

## build: a static ./securecam binary
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o securecam ./cmd/securecam

## lint: gofmt, go vet and staticcheck
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

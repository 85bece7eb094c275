# AVE build. `make build` puts every binary into bin/.
GO        ?= go
BIN       := bin
ENGINE    := aveserver
THIN := avectl smtpscanner kavscanner qmail-queue keepup2date
GOFLAGS_T ?=

.PHONY: all build test test-race check proto bench fuzz clean deps install

all: build

deps:
	./scripts/install-deps.sh

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/$(ENGINE)
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ $(addprefix ./cmd/,$(THIN))

# Installs under PREFIX (programs), /etc/ave, /var/lib/ave/bases and the
# systemd, tmpfiles, sysusers and logrotate directories of /etc; DESTDIR
# stages it for a package. scripts/install.sh says what it keeps.
PREFIX  ?= /usr/local
DESTDIR ?=
install: build
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) BINDIR=$(BIN) ./scripts/install.sh

# The README's test command runs this after deps.
# The patched go-smtp fork (third_party, its own module) has its tests run
# too: upstream's and those of the AVE patches.
test: build
	$(GO) test -race -count=1 $(GOFLAGS_T) ./...
	cd third_party/go-smtp && $(GO) test -race -count=1 ./...

check:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@for c in $(THIN); do CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/$$c || exit 1; done
	@echo "check: ok"

# Regenerates proto/ave/v1/*.pb.go (committed, so CI needs no protoc).
proto:
	@command -v protoc >/dev/null || { echo "make proto needs protoc: apt-get install protobuf-compiler"; exit 1; }
	@mkdir -p .tools
	$(GO) build -o .tools/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
	protoc --plugin=protoc-gen-go=.tools/protoc-gen-go --plugin=protoc-gen-go-grpc=.tools/protoc-gen-go-grpc \
		--go_out=. --go_opt=module=ave --go-grpc_out=. --go-grpc_opt=module=ave proto/ave/v1/scanner.proto

# Short fuzz run of every fuzz target (FUZZTIME each).
FUZZTIME ?= 20s
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

bench: build
	./scripts/bench.sh

clean:
	rm -rf $(BIN) .tools

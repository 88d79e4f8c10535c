# sigshim — the two commands:
#   make test   install what is missing, build, and run every test (ctest), in three builds:
#               build/       the optimised binary (gcc): the end-to-end tests against real containerd
#                            + registry, the demo, and the deployment tests (test/deploy);
#               build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer (clang): every unit test,
#                            then each libFuzzer target briefly;
#               build-tsan/  ThreadSanitizer (clang): the unit tests that run on several threads.
#               Each test is built and run once per build that needs it: the unit tests are not
#               built in build/ (SIGSHIM_UNIT_TESTS=OFF there), which kept the whole run on a 2-core
#               machine under the 25 minutes CI allows.
#   make demo   build, then start a registry, containerd, sigshim and a mock sigstore (sigstore-js)
#               in a temporary folder: a key-signed and a keyless-signed image are pulled and run,
#               an unsigned one, another workflow's keyless one and a moved tag are refused, the
#               audit log is printed, and everything is stopped and removed (also on failure or
#               Ctrl-C).
# Other targets: deps, node-deps, build, test-main, test-asan, test-tsan, test-fuzz, bench, install,
# clean. Needs root on Debian 12 (apt-get, containerd).

BUILD       ?= build
ASAN_BUILD  ?= build-asan
TSAN_BUILD  ?= build-tsan
JOBS        ?= $(shell nproc)
FUZZ_SECONDS ?= 5

# Everything the build, the tests and the demo use, from Debian 12.
DEB_PACKAGES := cmake ninja-build g++ clang libclang-rt-14-dev pkg-config libcli11-dev \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
  libssl-dev libsodium-dev libtoml11-dev nlohmann-json3-dev libcurl4-openssl-dev \
  libgtest-dev libgmock-dev libbenchmark-dev libsystemd-dev libcpp-httplib-dev prometheus-cpp-dev libnghttp2-dev \
  containerd runc docker-registry umoci busybox-static skopeo openssl \
  systemd python3-yaml shellcheck

CTEST := ctest --output-on-failure --no-tests=error

.PHONY: all deps node-deps build asan-build test test-main test-asan test-tsan test-fuzz bench demo clean install

all: build

# Installs only what is missing; prints nothing when everything is there.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (or install them yourself): apt-get install" $$missing >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# sigstore-js, the independent keyless signer and verifier of the end-to-end tests (test/sigstore):
# the npm packages pinned by its package-lock.json, installed with `npm ci` when node_modules is
# missing or older than the lockfile. Needs Node.js >= 20.17 with npm (the machine's; Debian 12's own
# nodejs package is 18, which these packages do not support).
SIGSTORE_JS := test/sigstore
node-deps:
	@command -v node >/dev/null && command -v npm >/dev/null || { \
	  echo "node-deps: Node.js >= 20.17 and npm are needed for $(SIGSTORE_JS) and were not found" \
	       "(Debian 12's nodejs package is 18, too old)" >&2; exit 1; }
	@node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 17) ? 0 : 1)' || { \
	  echo "node-deps: Node.js $$(node --version) is too old: $(SIGSTORE_JS) needs >= 20.17" >&2; exit 1; }
	@if [ ! -f $(SIGSTORE_JS)/node_modules/.package-lock.json ] || \
	    [ $(SIGSTORE_JS)/package-lock.json -nt $(SIGSTORE_JS)/node_modules/.package-lock.json ]; then \
	  echo "installing $(SIGSTORE_JS)'s npm packages (npm ci)"; \
	  cd $(SIGSTORE_JS) && npm ci --engine-strict --no-audit --no-fund --loglevel=error; \
	fi

# The product and its end-to-end tests (the unit tests run in the sanitizer builds).
build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIGSHIM_UNIT_TESTS=OFF >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

test: test-main test-asan test-tsan

test-main: build node-deps
	cd $(BUILD) && $(CTEST) -j2 -L 'e2e|deploy'

# The unit tests and the fuzz targets share one clang build: -O0 with line tables only (the
# sanitizers' reports need file:line, not variables), compiled once for both.
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
asan-build: deps
	@CC=clang CXX=clang++ cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_C_FLAGS_DEBUG=-gline-tables-only -DCMAKE_CXX_FLAGS_DEBUG=-gline-tables-only \
	  -DSIGSHIM_SANITIZE=ON -DSIGSHIM_FUZZ=ON -DSIGSHIM_FUZZ_SECONDS=$(FUZZ_SECONDS) -DSIGSHIM_E2E=OFF >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS)

test-asan: asan-build
	cd $(ASAN_BUILD) && $(ASAN_ENV) $(CTEST) -j2 -L 'unit|fuzz'

# The unit tests under ThreadSanitizer, built with clang. test/tsan/absl_sync_annotations.cc makes
# Debian's (uninstrumented) abseil locks visible to TSan; TSan's settings are compiled into every
# executable (test/tsan/default_options.cc), with test/tsan/tsan.supp, which silences only
# reports that lie wholly inside Debian's uninstrumented libraries, never sigshim's code.
# setarch -R: the TSan runtime of clang 14 cannot map its shadow under the address randomisation
# of some kernels.
test-tsan: deps
	@CC=clang CXX=clang++ cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIGSHIM_TSAN=ON \
	  -DSIGSHIM_E2E=OFF -DSIGSHIM_BENCH=OFF >/dev/null
	cmake --build $(TSAN_BUILD) -j$(JOBS)
	cd $(TSAN_BUILD) && setarch $$(uname -m) -R $(CTEST) -j2 -L unit

test-fuzz: asan-build
	cd $(ASAN_BUILD) && $(ASAN_ENV) $(CTEST) -j2 -L fuzz

# make install [PREFIX=/usr/local] [DESTDIR=/staging]: the binary, the systemd unit (its ExecStart
# names $(PREFIX)/bin/sigshim), the kubelet drop-in, the example config and the DaemonSet files.
# The .deb: cd $(BUILD) && cpack -G DEB.
PREFIX ?= /usr/local
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(PREFIX)

bench: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIGSHIM_UNIT_TESTS=OFF -DSIGSHIM_BENCH=ON >/dev/null
	cmake --build $(BUILD) -j$(JOBS)
	$(BUILD)/test/bench/proxy_bench

demo: deps node-deps build
	$(BUILD)/test/demo/sigshim-demo --sigshim $(BUILD)/shim/sigshim

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)

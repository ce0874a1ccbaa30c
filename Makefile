# SPDX-License-Identifier: GPL-2.0
# xwg: one Makefile, one output folder ($(OUT)).
#   make            build everything (daemon, BPF objects, unit tests)
#   make unit       build and run the unit tests (no root)
#   make check      install missing Debian packages, build, run the unit
#                   tests plainly and under ASan+UBSan, then the selftests
#   make demo       (root) two namespaces, xwgd <-> wireguard-go, a ping
#   make bench      (root) throughput, latency, CPU/GB vs wireguard-go
#   make fuzz       build the libFuzzer targets and run each FUZZ_SECONDS
#   make install    (PREFIX, DESTDIR) programs, manual pages, systemd units;
#                   make uninstall removes them
#   make deb        the Debian package build/deb/xwg_VERSION_amd64.deb
#   V=1             show full commands

OUT ?= build
SANITIZE ?=
CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
FUZZ_SECONDS ?= 60

ifeq ($(V),1)
Q =
msg = @true
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

PKGS = libsodium libb2 libnl-3.0 libnl-route-3.0 libbpf libxdp libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-fno-strict-aliasing -pthread -I. -Iinclude $(PKG_CFLAGS) -MMD -MP
override LDLIBS += $(PKG_LIBS) -pthread
ifneq ($(SANITIZE),)
override CFLAGS += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
override LDFLAGS += -fsanitize=address,undefined
endif

# Everything but program mains goes into one archive that the daemon, the
# tests and the fuzzers link.
PROG_MAINS = ctl/xwgd.c
LIB_SRCS := $(filter-out $(PROG_MAINS), \
	$(wildcard base/*.c ctl/*.c ctl/handshake/*.c ctl/maps/*.c datapath/*.c))
TEST_SRCS := $(wildcard tests/*.c)
FUZZ_SRCS := $(wildcard tests/fuzz/*.c)
TOOL_SRCS := $(wildcard tests/tools/*.c)
# The Kubernetes node agent (mesh/) and CNI plugin (cni/): each folder's
# main.c is the program, the rest is library code the unit tests and fuzzers
# link too. They add libcurl (Kubernetes API over HTTPS), json-c and
# libmicrohttpd (the agent's /metrics endpoint).
K8S_PKGS = libcurl json-c libmicrohttpd
K8S_CFLAGS := $(shell pkg-config --cflags $(K8S_PKGS) 2>/dev/null)
K8S_LIBS := $(shell pkg-config --libs $(K8S_PKGS) 2>/dev/null)
K8S_LIB_SRCS := $(filter-out mesh/main.c cni/main.c, \
	$(wildcard mesh/*.c cni/*.c))
K8S_LIB_OBJS := $(K8S_LIB_SRCS:%.c=$(OUT)/%.o)
K8S_PROGS := $(if $(wildcard mesh/main.c),$(OUT)/xwg-mesh) \
	$(if $(wildcard cni/main.c),$(OUT)/xwg-cni)
BPF_SRCS := $(wildcard bpf/*.c)

LIB_OBJS := $(LIB_SRCS:%.c=$(OUT)/%.o)
TEST_OBJS := $(TEST_SRCS:%.c=$(OUT)/%.o)
BPF_OBJS := $(BPF_SRCS:bpf/%.c=$(OUT)/bpf/%.bpf.o)
BPF_SKELS := $(BPF_SRCS:bpf/%.c=$(OUT)/bpf/%.skel.h)
PROGS := $(patsubst ctl/%.c,$(OUT)/%,$(wildcard $(PROG_MAINS)))
FUZZERS := $(FUZZ_SRCS:tests/fuzz/%.c=$(OUT)/fuzz/%)
TOOLS := $(TOOL_SRCS:tests/tools/%.c=$(OUT)/tools/%)

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all unit check deps demo fuzz fuzz-build selftests check-matrix bench clean

all: $(BPF_SKELS) $(PROGS) $(K8S_PROGS) $(OUT)/unit_tests $(TOOLS)

# BPF: clang -target bpf, then a skeleton header for userspace to include.
$(OUT)/bpf/%.bpf.o: bpf/%.c | $(OUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror \
		-I. -Iinclude -I/usr/include/x86_64-linux-gnu -MMD -MP -c $< -o $@
$(OUT)/bpf/%.skel.h: $(OUT)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@

$(OUT)/%.o: %.c | $(BPF_SKELS)
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -I$(OUT) -c $< -o $@

# The loader embeds the skeletons: rebuild it when they change (its .d
# file lists them only once they existed at its first compile).
$(OUT)/ctl/maps/skeletons.o: $(BPF_SKELS)

$(OUT)/libxwg.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUT)/mesh/%.o $(OUT)/cni/%.o: override CFLAGS += $(K8S_CFLAGS)
$(OUT)/libxwg-k8s.a: $(K8S_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^
$(OUT)/xwg-mesh: $(OUT)/mesh/main.o $(OUT)/libxwg-k8s.a $(OUT)/libxwg.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(K8S_LIBS) $(LDLIBS) -o $@
$(OUT)/xwg-cni: $(OUT)/cni/main.o $(OUT)/libxwg-k8s.a $(OUT)/libxwg.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(K8S_LIBS) $(LDLIBS) -o $@

$(OUT)/%: $(OUT)/ctl/%.o $(OUT)/libxwg.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Test helpers for the selftests (packet generators, probes).
$(OUT)/tools/%: $(OUT)/tests/tools/%.o $(OUT)/libxwg-k8s.a $(OUT)/libxwg.a
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(K8S_LIBS) $(LDLIBS) -o $@

$(OUT)/unit_tests: $(TEST_OBJS) $(OUT)/libxwg-k8s.a $(OUT)/libxwg.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(K8S_LIBS) $(LDLIBS) -o $@

$(OUT)/bpf:
	@mkdir -p $@

unit: $(OUT)/unit_tests
	$(Q)$(OUT)/unit_tests

# libFuzzer targets: clang, ASan+UBSan, each linking the sources it needs
# directly (the archive is built with gcc flags).
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -I. -Iinclude $(PKG_CFLAGS) $(K8S_CFLAGS) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
$(OUT)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(K8S_LIB_SRCS)
	@mkdir -p $(@D)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $< $(LIB_SRCS) $(K8S_LIB_SRCS) $(K8S_LIBS) \
		$(LDLIBS) -o $@
fuzz-build: $(FUZZERS)
fuzz: fuzz-build
	$(Q)for f in $(FUZZERS); do \
		n=$$(basename $$f); mkdir -p $(OUT)/corpus/$$n; \
		$$f -max_total_time=$(FUZZ_SECONDS) $(OUT)/corpus/$$n \
			tests/fuzz/corpus/$$n 2>&1 | tail -3 || exit 1; \
	done

deps:
	$(Q)tests/install-deps.sh

check: deps
	$(Q)tests/check.sh

selftests: all
	$(Q)selftests/run.sh

# (root) issue 14's whole topology matrix: every layout x pairing x MTU x
# family (make check runs a covering subset of it).
check-matrix: all
	$(Q)TOPOLOGY_FULL=1 selftests/topology.sh

demo: deps
	$(Q)$(MAKE) -s all
	$(Q)selftests/demo.sh

# xwgd against wireguard-go (and the bare veth) in the same run.
bench:
	$(Q)tests/install-deps.sh --bench
	$(Q)$(MAKE) -s all
	$(Q)bench/run.sh

# Installation (issue 16). PREFIX and DESTDIR as usual; the Debian package
# installs with PREFIX=/usr SYSTEMD_UNIT_DIR=/lib/systemd/system
# CNI_BIN_DIR=/usr/lib/cni (debian/rules). uninstall removes exactly the
# files install wrote, and the directories of xwg's own it made.
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/xwg
CNI_BIN_DIR ?= /opt/cni/bin
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
INSTALL ?= install
# The version lives in one place, ctl/xwgd.c (`xwgd --version`).
XWG_VERSION := $(shell sed -n 's/^\#define XWG_VERSION "\(.*\)"$$/\1/p' ctl/xwgd.c)
MAN_PAGES := $(wildcard man/*.8)
# Unit sources (systemd/*.in) name the programs by @SBINDIR@.
UNIT_SRCS := $(patsubst systemd/%.in,%,$(shell find systemd -name '*.in' 2>/dev/null))
DOC_FILES := README.md deploy/README.md deploy/10-xwg.conflist
DEB_DIR := $(OUT)/deb

.PHONY: install uninstall deb
install: $(OUT)/xwgd $(OUT)/xwg-mesh $(OUT)/xwg-cni
	$(Q)$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(CNI_BIN_DIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)/deploy
	$(Q)$(INSTALL) -m 0755 $(OUT)/xwgd $(OUT)/xwg-mesh $(DESTDIR)$(SBINDIR)/
	$(Q)$(INSTALL) -m 0755 $(OUT)/xwg-cni $(DESTDIR)$(CNI_BIN_DIR)/
	$(Q)$(INSTALL) -m 0644 $(MAN_PAGES) $(DESTDIR)$(MANDIR)/man8/
	$(Q)for u in $(UNIT_SRCS); do \
		$(INSTALL) -d "$(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$(dirname $$u)" && \
		sed 's|@SBINDIR@|$(SBINDIR)|g' "systemd/$$u.in" > "$(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$u" && \
		chmod 0644 "$(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$u" || exit 1; \
	done
	$(Q)for f in $(DOC_FILES); do \
		$(INSTALL) -m 0644 $$f "$(DESTDIR)$(DOCDIR)/$$f" || exit 1; \
	done

uninstall:
	$(Q)rm -f $(DESTDIR)$(SBINDIR)/xwgd $(DESTDIR)$(SBINDIR)/xwg-mesh \
		$(DESTDIR)$(CNI_BIN_DIR)/xwg-cni \
		$(patsubst man/%,$(DESTDIR)$(MANDIR)/man8/%,$(MAN_PAGES)) \
		$(patsubst %,$(DESTDIR)$(SYSTEMD_UNIT_DIR)/%,$(UNIT_SRCS)) \
		$(patsubst %,$(DESTDIR)$(DOCDIR)/%,$(DOC_FILES))
	$(Q)rmdir $(DESTDIR)$(DOCDIR)/deploy $(DESTDIR)$(DOCDIR) \
		$(sort $(filter-out $(DESTDIR)$(SYSTEMD_UNIT_DIR)/.,$(patsubst %/,%,$(dir \
		$(patsubst %,$(DESTDIR)$(SYSTEMD_UNIT_DIR)/%,$(UNIT_SRCS)))))) 2>/dev/null || true

# The Debian package, built by dpkg-buildpackage with debhelper (debian/):
# $(DEB_DIR)/xwg_VERSION_amd64.deb. It compiles the programs once more, in
# $(DEB_DIR)/obj, with Debian's hardening flags.
deb:
	$(Q)v=$$(dpkg-parsechangelog -S Version) && [ "$$v" = "$(XWG_VERSION)" ] || { \
		echo "deb: debian/changelog is at $$v, ctl/xwgd.c's XWG_VERSION at $(XWG_VERSION):" \
			"add a changelog entry (dch -v $(XWG_VERSION))" >&2; exit 1; }
	$(Q)mkdir -p $(DEB_DIR)
	$(Q)XWG_DEB_DIR=$(abspath $(DEB_DIR)) dpkg-buildpackage -b -us -uc \
		--buildinfo-option=-u$(abspath $(DEB_DIR)) \
		--buildinfo-file=$(abspath $(DEB_DIR))/xwg_$(XWG_VERSION)_amd64.buildinfo \
		--changes-option=-u$(abspath $(DEB_DIR)) \
		--changes-file=$(abspath $(DEB_DIR))/xwg_$(XWG_VERSION)_amd64.changes
	$(Q)echo "deb: $(DEB_DIR)/xwg_$(XWG_VERSION)_amd64.deb"

clean:
	rm -rf $(OUT)

-include $(shell find $(OUT) -name '*.d' 2>/dev/null)

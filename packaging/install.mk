# SPDX-License-Identifier: MIT
#
# make install, make uninstall and make install-test; included by the
# top-level Makefile (needs its ROOT and BUILD).
#
#   make install [PREFIX=/usr/local] [DESTDIR=<staging root>]
#
# installs, every path under $(DESTDIR):
#
#   $(LIBDIR)         libgcheap.so.<version>, the SONAME link libgcheap.so.<major>
#                     and the link libgcheap.so (for -lgcheap), libgcheap.a
#   $(PKGCONFIGDIR)   gcheap.pc
#   $(INCLUDEDIR)     gcheap.h, and the uAPI as linux/gcheap.h (the name the
#                     header has in the tree and that its users include)
#   $(SBINDIR)        gcheap-trace, if it is built (make bpf)
#   $(DKMS_SRCDIR)/gcheap-<version>/
#                     the module's sources and dkms.conf.  /usr/src whatever
#                     PREFIX is: dkms finds sources in /usr/src/<name>-<version>
#                     only.  DKMS_SRCDIR= (empty) leaves them out.
#
# It builds the library first (make -C libgcheap all), never the module: DKMS
# builds that, for each kernel.  With no DESTDIR and as root, ldconfig runs.
# The version is the one in the file VERSION.

GCHEAP_VERSION := $(shell cat $(ROOT)/VERSION)
GCHEAP_SOMAJOR := $(firstword $(subst ., ,$(GCHEAP_VERSION)))
GCHEAP_SOFILE := libgcheap.so.$(GCHEAP_VERSION)
GCHEAP_SONAME := libgcheap.so.$(GCHEAP_SOMAJOR)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SBINDIR ?= $(PREFIX)/sbin
DKMS_SRCDIR ?= /usr/src
INSTALL ?= install

GCHEAP_DKMS_TREE := $(DESTDIR)$(DKMS_SRCDIR)/gcheap-$(GCHEAP_VERSION)
# gcheap.pc names its directories relative to ${prefix} where they are under it
gcheap_pc_dir = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

.PHONY: install uninstall install-test

install:
	$(MAKE) -C $(ROOT)/libgcheap all
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(INCLUDEDIR)/linux
	$(INSTALL) -m 755 $(BUILD)/libgcheap/$(GCHEAP_SOFILE) $(DESTDIR)$(LIBDIR)/
	ln -sfn $(GCHEAP_SOFILE) $(DESTDIR)$(LIBDIR)/$(GCHEAP_SONAME)
	ln -sfn $(GCHEAP_SOFILE) $(DESTDIR)$(LIBDIR)/libgcheap.so
	$(INSTALL) -m 644 $(BUILD)/libgcheap/libgcheap.a $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 644 $(ROOT)/libgcheap/include/gcheap.h $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 644 $(ROOT)/uapi/linux/gcheap.h $(DESTDIR)$(INCLUDEDIR)/linux/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(GCHEAP_VERSION)|' \
	    -e 's|@LIBDIR@|$(call gcheap_pc_dir,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(call gcheap_pc_dir,$(INCLUDEDIR))|' \
	    $(ROOT)/packaging/gcheap.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/gcheap.pc
	@if [ -x $(BUILD)/bpf/gcheap-trace ]; then \
	    echo "$(INSTALL) -D -m 755 $(BUILD)/bpf/gcheap-trace $(DESTDIR)$(SBINDIR)/gcheap-trace"; \
	    $(INSTALL) -D -m 755 $(BUILD)/bpf/gcheap-trace $(DESTDIR)$(SBINDIR)/gcheap-trace; \
	else echo "install: no $(BUILD)/bpf/gcheap-trace (make bpf), not installed"; fi
ifneq ($(DKMS_SRCDIR),)
	@# only what kbuild reads, never objects nor kbuild's generated *.mod.c
	rm -rf $(GCHEAP_DKMS_TREE)
	cd $(ROOT) && find Kbuild kmod uapi -type f \( -name Kbuild -o -name Makefile \
	    -o -name '*.[chS]' \) ! -name '*.mod.c' | LC_ALL=C sort | \
	    while read -r f; do $(INSTALL) -D -m 644 "$$f" "$(GCHEAP_DKMS_TREE)/$$f" || exit 1; done
	sed -e 's|@VERSION@|$(GCHEAP_VERSION)|' $(ROOT)/packaging/dkms.conf.in \
	    > $(GCHEAP_DKMS_TREE)/dkms.conf
endif
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then echo ldconfig; ldconfig; fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/$(GCHEAP_SOFILE) $(DESTDIR)$(LIBDIR)/$(GCHEAP_SONAME) \
	    $(DESTDIR)$(LIBDIR)/libgcheap.so $(DESTDIR)$(LIBDIR)/libgcheap.a \
	    $(DESTDIR)$(PKGCONFIGDIR)/gcheap.pc $(DESTDIR)$(INCLUDEDIR)/gcheap.h \
	    $(DESTDIR)$(INCLUDEDIR)/linux/gcheap.h $(DESTDIR)$(SBINDIR)/gcheap-trace
	rmdir $(DESTDIR)$(INCLUDEDIR)/linux 2>/dev/null || true
ifneq ($(DKMS_SRCDIR),)
	rm -rf $(GCHEAP_DKMS_TREE)
endif

# Staging install, pkg-config build, dkms build, the DKMS module in the VM.
install-test:
	$(ROOT)/tests/install/install-run

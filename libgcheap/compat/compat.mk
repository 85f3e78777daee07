# SPDX-License-Identifier: MIT
# libgc.so.1: bdwgc's ABI over libgcheap (compat/README.md).  Included by
# ../Makefile, which owns OUT, CC, CFLAGS and WARN.  Compiled against
# Debian's <gc.h> (libgc-dev, installed by scripts/deps), never a copy.
COMPAT_OUT  := $(OUT)/compat
COMPAT_SRCS := init.c malloc.c uncollectable.c finalize.c links.c collect.c \
	       static_roots.c threads.c typed.c kinds.c core_glue.c
COMPAT_HDRS := compat/compat.h compat/compat_core.h
COMPAT_OBJS := $(COMPAT_SRCS:%.c=$(COMPAT_OUT)/obj/%.o)
COMPAT_SO   := $(COMPAT_OUT)/libgc.so.1
# The C test of every entry point, and the scripts over real programs.
COMPAT_TESTS := $(COMPAT_OUT)/tests/compat_api_test \
		$(COMPAT_OUT)/tests/compat_ctl_test \
		$(COMPAT_OUT)/tests/compat_kinds_test \
		compat/tests/compat_symbols_test compat/tests/w3m_test \
		compat/tests/mmv_test compat/tests/guile_test

.PHONY: compat
compat: $(COMPAT_SO) $(COMPAT_OUT)/libgc.so

$(COMPAT_OUT)/obj/%.o: compat/%.c $(COMPAT_HDRS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALLFLAGS) -c $< -o $@

# libgcheap.a inside, statically; the version script keeps its names in.
$(COMPAT_SO): $(COMPAT_OBJS) $(OUT)/libgcheap.a compat/libgc.map
	$(CC) $(CFLAGS) -shared -pthread -Wl,-soname,libgc.so.1 \
	    -Wl,--version-script=compat/libgc.map -Wl,-z,defs -o $@ \
	    $(COMPAT_OBJS) $(OUT)/libgcheap.a

$(COMPAT_OUT)/libgc.so: $(COMPAT_SO)
	ln -sfn libgc.so.1 $@

# Against gc.h, linked to our libgc.so.1 (found first through its runpath).
$(COMPAT_OUT)/tests/%: compat/tests/%.c compat/tests/compat_test.h $(COMPAT_SO)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -pthread $< -o $@ $(COMPAT_SO) \
	    -Wl,-rpath,$(COMPAT_OUT)

# Sanitizer builds leave it out: an ASan libgc.so.1 cannot be loaded into
# the unmodified programs the tests run.
ifeq (,$(findstring -fsanitize,$(CFLAGS)))
all: compat
COMPAT_TEST_RUN := $(COMPAT_TESTS)
COMPAT_TEST_DEPS := $(COMPAT_OUT)/tests/compat_api_test \
		    $(COMPAT_OUT)/tests/compat_ctl_test \
		    $(COMPAT_OUT)/tests/compat_kinds_test $(COMPAT_OUT)/libgc.so
endif

# The compat tests in the VM, on the kernel backend: build/compat-vm (not a
# build/vmtests-* directory, so `make vmtest`/`make check` leave it out: it
# takes minutes under TCG).  vm_launch.c says how the guest gets w3m, mmv,
# guile, bash and their libraries.  compat-vmtest boots it (the module must be
# built: make module).
COMPAT_VMOUT := $(TOP)/build/compat-vm
COMPAT_VM_LIBS := libgc.so.1 libssl.so.3 libcrypto.so.3 libgpm.so.2 \
		  libtinfo.so.6 libm.so.6 libpthread.so.0 libgcc_s.so.1 \
		  libguile-3.0.so.1 libffi.so.8 libunistring.so.2 libgmp.so.10 \
		  libcrypt.so.1
# Guile's modules, compiled and source, and glibc's iconv modules (Guile
# aborts at start without ISO-8859-1), under root/ (scripts/vm copies it
# over the guest's /).
COMPAT_VM_GUILE := /usr/lib/x86_64-linux-gnu/guile/3.0 /usr/share/guile/3.0 \
		   /usr/lib/x86_64-linux-gnu/gconv
.PHONY: compat-vmtests compat-vmtest
compat-vmtests: $(COMPAT_SO) compat/tests/vm_launch.c
	rm -rf $(COMPAT_VMOUT) && mkdir -p $(COMPAT_VMOUT)/bin
	$(CC) $(CFLAGS) $(WARN) compat/tests/vm_launch.c \
	    -o $(COMPAT_VMOUT)/compat_api_test -Wl,--no-as-needed \
	    $(foreach l,$(COMPAT_VM_LIBS),/lib/x86_64-linux-gnu/$(l))
	cd $(COMPAT_VMOUT) && ln compat_api_test w3m_test && \
	    ln compat_api_test mmv_test && ln compat_api_test compat_ctl_test && \
	    ln compat_api_test compat_kinds_test && ln compat_api_test guile_test
	for t in compat_api_test compat_ctl_test compat_kinds_test; do \
	    $(CC) $(CFLAGS) $(WARN) -pthread compat/tests/$$t.c \
	        -o $(COMPAT_VMOUT)/bin/$$t.bin $(COMPAT_SO) || exit 1; done
	cp $(COMPAT_SO) compat/tests/w3m_test compat/tests/mmv_test \
	    compat/tests/guile_test compat/tests/guile_prog.scm \
	    compat/tests/lib.sh /usr/bin/w3m /usr/bin/mmv /bin/bash \
	    /usr/bin/guile-3.0 $(COMPAT_VMOUT)/bin/
	for d in $(COMPAT_VM_GUILE); do \
	    mkdir -p $(COMPAT_VMOUT)/root$$(dirname $$d) && \
	    cp -a $$d $(COMPAT_VMOUT)/root$$d || exit 1; done
	chmod +x $(COMPAT_VMOUT)/bin/*

compat-vmtest: compat-vmtests
	VM_MODULE=$${VM_MODULE:-$(TOP)/kmod/gcheap.ko} $(TOP)/scripts/vm $(COMPAT_VMOUT)

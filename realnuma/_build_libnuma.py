"""cffi build script (API mode) for libnuma's syscall wrappers (numaif.h, -lnuma).

Built only where libnuma's headers are installed (Debian: libnuma-dev); the host:libnuma
backend then makes every call through libnuma instead of syscall(2).
"""

from __future__ import annotations

from cffi import FFI

ffibuilder = FFI()

ffibuilder.cdef(
    """
    long get_mempolicy(int *mode, unsigned long *nmask, unsigned long maxnode,
                       void *addr, unsigned flags);
    long mbind(void *start, unsigned long len, int mode, const unsigned long *nmask,
               unsigned long maxnode, unsigned flags);
    long set_mempolicy(int mode, const unsigned long *nmask, unsigned long maxnode);
    long migrate_pages(int pid, unsigned long maxnode, const unsigned long *frommask,
                       const unsigned long *tomask);
    long move_pages(int pid, unsigned long count, void **pages, const int *nodes,
                    int *status, int flags);
    """
)

ffibuilder.set_source("realnuma._libnuma", "#include <numaif.h>", libraries=["numa"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

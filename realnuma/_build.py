"""cffi build script (API mode): the raw syscalls and the few libc calls the helper needs.

Syscall numbers and constants are filled in by the C compiler from the system headers.
"""

from __future__ import annotations

from cffi import FFI

ffibuilder = FFI()

ffibuilder.cdef(
    """
    #define SYS_move_pages ...
    #define SYS_migrate_pages ...
    #define SYS_get_mempolicy ...
    #define SYS_set_mempolicy ...
    #define SYS_mbind ...

    #define MPOL_MF_STRICT ...
    #define MPOL_MF_MOVE ...
    #define MPOL_MF_MOVE_ALL ...
    #define MPOL_F_NODE ...
    #define MPOL_F_ADDR ...
    #define MPOL_F_MEMS_ALLOWED ...
    #define MPOL_DEFAULT ...
    #define MPOL_PREFERRED ...
    #define MPOL_BIND ...
    #define MPOL_INTERLEAVE ...

    #define PROT_NONE ...
    #define PROT_READ ...
    #define PROT_WRITE ...
    #define PROT_EXEC ...
    #define MAP_PRIVATE ...
    #define MAP_SHARED ...
    #define MAP_ANONYMOUS ...
    #define MAP_FIXED ...
    #define MAP_HUGETLB ...
    #define MADV_HUGEPAGE ...
    #define MADV_POPULATE_READ ...
    #define MADV_POPULATE_WRITE ...
    #define PR_SET_DUMPABLE ...
    #define PR_SET_KEEPCAPS ...
    #define PR_SET_PDEATHSIG ...
    #define PR_SET_CHILD_SUBREAPER ...

    struct iovec { void *iov_base; size_t iov_len; };

    long numa_syscall6(long nr, unsigned long a, unsigned long b, unsigned long c,
                       unsigned long d, unsigned long e, unsigned long f);
    unsigned long numa_mmap(unsigned long addr, size_t length, int prot, int flags,
                            int fd, long offset);
    int munmap(void *addr, size_t length);
    int mprotect(void *addr, size_t len, int prot);
    int mlock(const void *addr, size_t len);
    int madvise(void *addr, size_t length, int advice);
    int mincore(void *addr, size_t length, unsigned char *vec);
    long process_vm_readv(int pid, const struct iovec *local_iov, unsigned long liovcnt,
                          const struct iovec *remote_iov, unsigned long riovcnt,
                          unsigned long flags);
    long process_vm_writev(int pid, const struct iovec *local_iov, unsigned long liovcnt,
                           const struct iovec *remote_iov, unsigned long riovcnt,
                           unsigned long flags);
    long vmsplice(int fd, const struct iovec *iov, unsigned long nr_segs, unsigned int flags);
    int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4,
              unsigned long arg5);
    int numa_set_caps(unsigned int effective0, unsigned int effective1,
                      unsigned int permitted0, unsigned int permitted1);
    """
)

ffibuilder.set_source(
    "realnuma._syscalls",
    """
    #define _GNU_SOURCE
    #include <errno.h>
    #include <unistd.h>
    #include <sys/syscall.h>
    #include <sys/mman.h>
    #include <sys/uio.h>
    #include <sys/prctl.h>
    #include <fcntl.h>
    #include <linux/mempolicy.h>
    #include <linux/capability.h>

    /* A plain six-register syscall: the raw ABI, no library wrapper in between. */
    static long numa_syscall6(long nr, unsigned long a, unsigned long b, unsigned long c,
                              unsigned long d, unsigned long e, unsigned long f)
    {
        return syscall(nr, a, b, c, d, e, f);
    }

    /* mmap returning the address as an integer (MAP_FAILED = (unsigned long)-1). */
    static unsigned long numa_mmap(unsigned long addr, size_t length, int prot, int flags,
                                   int fd, long offset)
    {
        return (unsigned long)mmap((void *)addr, length, prot, flags, fd, offset);
    }

    /* capset(2) on the calling thread: the two 32-bit words of each set (v3 ABI). */
    static int numa_set_caps(unsigned int effective0, unsigned int effective1,
                             unsigned int permitted0, unsigned int permitted1)
    {
        struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct data[2] = {
            { effective0, permitted0, 0 },
            { effective1, permitted1, 0 },
        };
        return syscall(SYS_capset, &header, data);
    }
    """,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
